"""A FlytePropeller simulator and the RFC's workflow portfolio it runs, every operation a flyte_otel span.

The simulator (engine, clock, plan, compile, profile) runs a compiled workflow with propeller's loop on a
virtual or real clock, with latencies drawn from a profile (profiles/*.yaml). The portfolio (portfolio/)
is real flytekit code, one workflow per orchestration bottleneck; flytekit comes with the `portfolio`
extra. `otel-fold bench` and `otel-fold demo` drive both.
"""
