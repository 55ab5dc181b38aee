"""Examples: the RFC's workflow portfolio (flytekit code) and a FlytePropeller simulator that runs it with flyte_otel."""
