"""A FlytePropeller simulator: runs a compiled workflow with propeller's loop, emitting every operation via flyte_otel."""
