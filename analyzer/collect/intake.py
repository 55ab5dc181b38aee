"""What both listeners share: the bearer-token check, size limit, admission (payload.py), storing, draining."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from analyzer.collect.connections import DEFAULT_MAX_BYTES
from analyzer.collect.payload import Admitted, InvalidRequest, admit_json, admit_proto
from analyzer.collect.sink import Closed, Sink, Unwritable

__all__ = [
    "INVALID",
    "NOT_FOUND",
    "TOO_LARGE",
    "UNAUTHENTICATED",
    "UNAVAILABLE",
    "UNSUPPORTED_MEDIA",
    "Intake",
    "Reason",
    "Rejected",
]


@dataclass(frozen=True)
class Reason:
    """Why a request was refused, as each transport says it."""

    grpc_code: grpc.StatusCode
    http_status: int


# Why a request is refused: the gRPC status code and HTTP status of each reason.
INVALID = Reason(grpc.StatusCode.INVALID_ARGUMENT, 400)
UNAUTHENTICATED = Reason(grpc.StatusCode.UNAUTHENTICATED, 401)
TOO_LARGE = Reason(grpc.StatusCode.RESOURCE_EXHAUSTED, 413)
UNSUPPORTED_MEDIA = Reason(grpc.StatusCode.INVALID_ARGUMENT, 415)
NOT_FOUND = Reason(grpc.StatusCode.UNIMPLEMENTED, 404)
# Shutting down, or the store refused the write: retryable, the exporter sends it later or elsewhere
# (opentelemetry-proto v1.11.0 docs/specification.md:314-330 for gRPC, :638-648 for HTTP).
UNAVAILABLE = Reason(grpc.StatusCode.UNAVAILABLE, 503)


class Rejected(Exception):
    """A request refused with a reason; the message is safe to send back (never contains the token)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Intake:
    """Checks and stores export requests for both listeners; counts requests in flight so stop can drain."""

    def __init__(self, sink: Sink, *, token: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.sink = sink
        self.max_bytes = max_bytes
        self._expected = f"Bearer {token}".encode() if token else None
        self._in_flight = 0
        self._idle = threading.Condition()

    def authorize(self, authorization: str | None) -> None:
        """Refuse unless no token is configured or the header is exactly `Bearer <token>`."""
        if self._expected is None:
            return
        # compare_digest: the time taken does not reveal how much of the token matched.
        if authorization is None or not hmac.compare_digest(authorization.encode(), self._expected):
            raise Rejected(UNAUTHENTICATED, "missing or wrong bearer token")

    def check_size(self, n: int) -> None:
        """Refuse a body larger than the limit."""
        if n > self.max_bytes:
            raise Rejected(TOO_LARGE, f"request of {n} bytes exceeds the limit of {self.max_bytes} bytes")

    def _accept(
        self, admit: Callable[[bytes], Admitted], put: Callable[[bytes, int], None], body: bytes
    ) -> Admitted:
        self.check_size(len(body))
        # Counted from admission on, so that stop() drains requests already past the listener.
        with self._idle:
            self._in_flight += 1
        try:
            try:
                admitted = admit(body)
            except InvalidRequest as e:
                raise Rejected(INVALID, str(e)) from e
            if admitted.accepted:
                put(admitted.data, admitted.accepted)
            return admitted
        except (Closed, Unwritable) as e:
            raise Rejected(UNAVAILABLE, str(e)) from e
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def accept_proto(self, raw: bytes) -> Admitted:
        """Admit and store a serialized ExportTraceServiceRequest; Rejected if nothing of it can be stored."""
        return self._accept(admit_proto, self.sink.put_proto, raw)

    def accept_json(self, body: bytes) -> Admitted:
        """Admit and store an OTLP/JSON ExportTraceServiceRequest; Rejected if nothing of it can be stored."""
        return self._accept(admit_json, self.sink.put_json, body)

    def drain(self, timeout: float) -> bool:
        """Wait until no request is being stored; False if some still were after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)
