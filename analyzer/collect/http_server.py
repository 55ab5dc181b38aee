"""OTLP/HTTP listener: POST /v1/traces, protobuf or JSON, optionally gzip'ed; errors as google.rpc.Status."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc.status_pb2 import Status

from analyzer.collect.connections import ConnectionCap, DeadlineReader, Limits
from analyzer.collect.intake import INVALID, NOT_FOUND, TOO_LARGE, UNSUPPORTED_MEDIA, Intake, Rejected
from analyzer.errors import AnalyzerError

__all__ = ["DRAIN_FACTOR", "JSON", "PATH", "POLL_INTERVAL_S", "PROTOBUF", "start_http"]

# OTLP/HTTP's trace path and the two media types it accepts.
PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_log = logging.getLogger(__name__)
# How often (s) the serving loop looks for a shutdown request, so what a stop may wait; http.server's default.
POLL_INTERVAL_S = 0.5
# A refused body of up to DRAIN_FACTOR x --max-bytes is read and dropped after the answer, so that closing
# does not reset the connection under it: a client that sends its whole body before reading (http.client,
# requests) then sees the 413/401, not a broken pipe. A larger one is not read; the connection is closed.
DRAIN_FACTOR = 4
_CHUNK = 64 * 1024
# A client going away or too slow: one line at debug, never a traceback.
_DISCONNECTS = (ConnectionError, TimeoutError)

# Content-Type -> (how to accept the body, how to encode the ExportTraceServiceResponse)
_ACCEPT = {PROTOBUF: ("accept_proto", "response_proto"), JSON: ("accept_json", "response_json")}
_ENCODINGS = ("identity", "gzip")


def _gunzip(body: bytes, limit: int) -> bytes:
    """Every member of a gzip body (RFC 1952 2.2: a file is a series of members), never more than `limit`."""
    out = bytearray()
    rest = body
    while True:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # Bounded: a small gzip body must not expand past the size limit (a "zip bomb").
            out += d.decompress(rest, limit + 1 - len(out))
        except zlib.error as e:
            raise Rejected(
                INVALID, f"gzip body does not decompress at byte {len(body) - len(rest)}: {e}"
            ) from e
        if len(out) > limit:
            raise Rejected(TOO_LARGE, f"gzip body expands past the limit of {limit} bytes")
        if not d.eof:
            raise Rejected(INVALID, "gzip body is truncated")
        rest = d.unused_data
        if not rest:
            return bytes(out)


def _status_body(content_type: str, code: int, message: str) -> bytes:
    if content_type == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    return bytes(Status(code=code, message=message).SerializeToString())


def _content_length(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse one connection
    server_version = "otel-fold-collect"
    intake: Intake
    limits: Limits
    server: _Server
    _reader: DeadlineReader
    _unread: int | None = 0  # the declared body not read yet; None if no length was declared

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # http.server's reader: ours reads against a deadline
        self._reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        _log.debug("http: " + format, *args)

    def handle_one_request(self) -> None:
        self.server.connections.waiting(self.connection)
        self._reader.deadline = time.monotonic() + self.limits.header_timeout
        super().handle_one_request()

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.connection.settimeout(self.limits.body_timeout)  # a client that never reads its answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _take_body(self, content_type: str) -> bytes:
        """Check the request line and headers, then read the body and gunzip it."""
        if self.path.split("?")[0] != PATH:
            raise Rejected(NOT_FOUND, f"no such path {self.path!r}; OTLP traces go to {PATH}")
        self.intake.authorize(self.headers.get("Authorization"))
        if content_type not in _ACCEPT:
            raise Rejected(UNSUPPORTED_MEDIA, f"Content-Type {content_type!r} is not {PROTOBUF} or {JSON}")
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in _ENCODINGS:
            raise Rejected(UNSUPPORTED_MEDIA, f"Content-Encoding {encoding!r} is not gzip or identity")
        n = self._unread
        if n is None:
            # Chunked bodies are not supported by http.server; every OTLP exporter sends a length.
            raise Rejected(INVALID, "Content-Length is required")
        self.intake.check_size(n)
        body = self.rfile.read(n)
        if len(body) < n:
            raise ConnectionAbortedError(f"body ended after {len(body)} of {n} bytes")
        self._unread = 0
        return _gunzip(body, self.intake.max_bytes) if encoding == "gzip" else body

    def _refuse(self, e: Rejected, reply_type: str) -> None:
        unread = self._unread
        # An unread (or unbounded) body must not be taken for the next request.
        self.close_connection = self.close_connection or unread != 0
        code = e.reason.grpc_code.value[0]
        self._reply(e.reason.http_status, reply_type, _status_body(reply_type, code, str(e)))
        if unread and unread <= DRAIN_FACTOR * self.intake.max_bytes:
            self._drain(unread)

    def _drain(self, n: int) -> None:
        """Read and drop up to n bytes within the body deadline; stop quietly if the client goes away."""
        with contextlib.suppress(OSError):
            while n > 0:
                chunk = self.rfile.read1(min(n, _CHUNK))
                if not chunk:
                    return
                n -= len(chunk)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.connections.busy(self.connection)
        self._reader.deadline = time.monotonic() + self.limits.body_timeout
        self._unread = _content_length(self.headers.get("Content-Length"))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        reply_type = content_type if content_type in _ACCEPT else PROTOBUF
        try:
            body = self._take_body(content_type)
            accept, respond = _ACCEPT[content_type]
            admitted = getattr(self.intake, accept)(body)
        except Rejected as e:
            self._refuse(e, reply_type)
            return
        self._reply(200, content_type, getattr(admitted, respond)())


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up shutdown; stop() drains the intake
    request_queue_size = 128  # a burst of exporters connecting at once waits in the kernel's queue

    def __init__(self, address: tuple[str, int], handler: type[_Handler], max_connections: int) -> None:
        self.connections = ConnectionCap(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request):
            _log.debug("http: %s: every connection is busy; closed", _peer(client_address))
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.release(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, _DISCONNECTS):
            _log.debug("http: %s: %s: %s", _peer(client_address), type(error).__name__, error)
            return
        _log.error(
            "http: %s: request failed: %s: %s",
            _peer(client_address),
            type(error).__name__,
            error,
            exc_info=_log.isEnabledFor(logging.DEBUG),
        )


class _V6Server(_Server):
    address_family = socket.AF_INET6


def _peer(client_address: Any) -> str:
    host, port = client_address[:2]
    return f"{host}:{port}"


def start_http(
    address: str,
    intake: Intake,
    *,
    limits: Limits | None = None,
    poll_interval: float = POLL_INTERVAL_S,
) -> tuple[ThreadingHTTPServer, int]:
    """Serve OTLP/HTTP on `host:port` (port 0: any free one) in a thread; returns the server and the port."""
    limits = limits or Limits()
    host, _, port = address.rpartition(":")
    handler = type("Handler", (_Handler,), {"intake": intake, "limits": limits})
    host = host.strip("[]")
    server_class = _V6Server if ":" in host else _Server
    try:
        server = server_class((host, int(port)), handler, limits.max_connections)
    except (OSError, ValueError) as e:
        raise AnalyzerError(f"cannot listen for OTLP/HTTP on {address}: {e}") from e
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="otlp-http", daemon=True
    ).start()
    return server, server.server_address[1]
