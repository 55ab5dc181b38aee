"""`otel-fold collect`: an OTLP/gRPC and OTLP/HTTP trace receiver that appends to the local store."""
