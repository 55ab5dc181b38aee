"""OTLP/gRPC listener: TraceService/Export with the request kept as raw bytes (no re-encoding).

The bearer token is checked by a server interceptor, which grpc runs when a call's metadata has arrived
and before its message is received (grpc/_server.py `_handle_call` -> `_find_method_handler`). A refused
call gets a handler that takes a request *iterator* and never pulls from it, so its message is never
received: unauthenticated calls cost no memory for their bodies.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc

from analyzer.collect.connections import Limits
from analyzer.collect.intake import INVALID, UNAVAILABLE, Intake, Rejected
from analyzer.errors import AnalyzerError

__all__ = ["SERVICE", "start_grpc"]

# The OTLP trace service's full gRPC name.
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_log = logging.getLogger(__name__)
# Calls at once on one HTTP/2 connection: one exporter sends one request at a time, so a single connection
# cannot take every call the server serves (--max-connections).
_STREAMS_PER_CONNECTION = 16
# A connection with no call for this long is closed (GOAWAY); exporters reconnect on their next export.
_IDLE_MS = 60_000
# Ping a client after this long without activity, and drop the connection if the ping is not answered
# within _KEEPALIVE_TIMEOUT_MS: a peer that vanished without a FIN does not hold its descriptor.
_KEEPALIVE_MS = 60_000
_KEEPALIVE_TIMEOUT_MS = 20_000
# Workers beyond --max-connections: they answer calls over the cap, and refused tokens, at once.
_SPARE_WORKERS = 4

_Behavior = Callable[[Iterator[bytes], grpc.ServicerContext], bytes]


def _options(max_bytes: int, limits: Limits) -> list[tuple[str, int]]:
    """grpc core channel arguments (include/grpc/impl/channel_arg_names.h) for the server."""
    return [
        # gRPC itself refuses larger messages with RESOURCE_EXHAUSTED before our handler runs.
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.max_concurrent_streams", _STREAMS_PER_CONNECTION),
        # A connection that never completes its HTTP/2 handshake (default 120 s) gets the header timeout.
        ("grpc.server_handshake_timeout_ms", int(limits.header_timeout * 1000)),
        ("grpc.max_connection_idle_ms", _IDLE_MS),
        ("grpc.keepalive_time_ms", _KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
    ]


def _refusal(e: Rejected) -> grpc.RpcMethodHandler:
    def refuse(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        context.abort(e.reason.grpc_code, str(e))
        raise AssertionError("abort returns only by raising")

    return grpc.stream_unary_rpc_method_handler(refuse)


class _Authorize(grpc.ServerInterceptor):  # type: ignore[misc]
    """Checks the bearer token in a call's metadata before its message is received."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        metadata: dict[str, Any] = dict(handler_call_details.invocation_metadata or ())
        try:
            self._intake.authorize(metadata.get("authorization"))
        except Rejected as e:
            return _refusal(e)
        return continuation(handler_call_details)


def _receive(requests: Iterator[bytes], context: grpc.ServicerContext, timeout: float) -> bytes:
    """The call's one message; the call is cancelled unless it has arrived whole within `timeout` s.

    Without the deadline a client that never sends its message holds a worker thread for good.
    """
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        context.cancel()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        messages = list(itertools.islice(requests, 2))  # a second message (or the client's close)
    except grpc.RpcError:  # cancelled: by us, or the client went away
        messages = []
    finally:
        timer.cancel()
    if expired.is_set() or not context.is_active():
        _log.debug("grpc: %s: no whole request within %g s, or the client went away", context.peer(), timeout)
        context.abort(grpc.StatusCode.CANCELLED, "cancelled")
    if len(messages) != 1:
        context.abort(INVALID.grpc_code, f"Export takes exactly one request message, not {len(messages)}")
    return messages[0]


def _export(intake: Intake, limits: Limits) -> _Behavior:
    slots = threading.BoundedSemaphore(limits.max_connections)

    def export(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        if not slots.acquire(blocking=False):
            # UNAVAILABLE, which OTLP clients retry; grpc's own maximum_concurrent_rpcs answers
            # RESOURCE_EXHAUSTED, which they drop unless it carries RetryInfo.
            context.abort(
                UNAVAILABLE.grpc_code, f"serving {limits.max_connections} calls already; retry later"
            )
        try:
            raw = _receive(requests, context, limits.body_timeout)
            try:
                admitted = intake.accept_proto(raw)
            except Rejected as e:
                context.abort(e.reason.grpc_code, str(e))  # raises
            return admitted.response_proto()
        finally:
            slots.release()

    return export


def start_grpc(address: str, intake: Intake, *, limits: Limits | None = None) -> tuple[grpc.Server, int]:
    """Serve OTLP/gRPC on `host:port` (port 0: any free one); returns the server and the bound port."""
    limits = limits or Limits()
    # A worker for every call allowed, and spare ones to refuse the rest: a slow client holds its worker
    # (up to the body timeout) while others are served or told to retry, never queued behind it.
    workers = limits.max_connections + _SPARE_WORKERS
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        interceptors=(_Authorize(intake),),
        options=_options(intake.max_bytes, limits),
    )
    # Request streaming on the server side (the wire is the same for a unary client), so that the
    # handler can put a deadline on receiving the message.
    handler = grpc.stream_unary_rpc_method_handler(
        _export(intake, limits), request_deserializer=None, response_serializer=None
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
