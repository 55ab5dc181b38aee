"""flyte_otel: OpenTelemetry spans for FlytePropeller orchestration and node lifecycles."""
