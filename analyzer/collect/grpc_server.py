"""OTLP/gRPC listener: TraceService/Export with the request kept as raw bytes (no re-encoding)."""

from __future__ import annotations

from concurrent import futures

import grpc

from analyzer.collect.intake import Intake, Rejected
from analyzer.errors import AnalyzerError

__all__ = ["SERVICE", "start_grpc"]

# The OTLP trace service's full gRPC name.
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _export(intake: Intake):  # type: ignore[no-untyped-def]
    def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            intake.authorize(dict(context.invocation_metadata()).get("authorization"))
            admitted = intake.accept_proto(raw)
        except Rejected as e:
            context.abort(e.reason.grpc_code, str(e))  # raises
        return admitted.response_proto()

    return export


def start_grpc(address: str, intake: Intake, *, workers: int = 8) -> tuple[grpc.Server, int]:
    """Serve OTLP/gRPC on `host:port` (port 0: any free one); returns the server and the bound port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[
            # gRPC itself refuses larger messages with RESOURCE_EXHAUSTED before our handler runs.
            ("grpc.max_receive_message_length", intake.max_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(
        _export(intake), request_deserializer=None, response_serializer=None
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        raise AnalyzerError(f"cannot listen for OTLP/gRPC on {address}: {e}") from e
    if port == 0:
        raise AnalyzerError(f"cannot listen for OTLP/gRPC on {address}")
    server.start()
    return server, port
