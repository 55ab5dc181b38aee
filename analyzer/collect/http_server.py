"""OTLP/HTTP listener: POST /v1/traces, protobuf or JSON, optionally gzip'ed; errors as google.rpc.Status."""

from __future__ import annotations

import json
import logging
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.rpc.status_pb2 import Status

from analyzer.collect.intake import INVALID, NOT_FOUND, TOO_LARGE, UNSUPPORTED_MEDIA, Intake, Rejected
from analyzer.errors import AnalyzerError

__all__ = ["JSON", "PATH", "POLL_INTERVAL_S", "PROTOBUF", "start_http"]

# OTLP/HTTP's trace path and the two media types it accepts.
PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_log = logging.getLogger(__name__)
# How often (s) the serving loop looks for a shutdown request, so what a stop may wait; http.server's default.
POLL_INTERVAL_S = 0.5

# Content-Type -> (how to accept the body, how to encode the ExportTraceServiceResponse)
_ACCEPT = {PROTOBUF: ("accept_proto", "response_proto"), JSON: ("accept_json", "response_json")}


def _gunzip(body: bytes, limit: int) -> bytes:
    # Bounded: a small gzip body must not expand past the size limit (a "zip bomb").
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        raise Rejected(INVALID, f"gzip body does not decompress: {e}") from e
    if len(out) > limit:
        raise Rejected(TOO_LARGE, f"gzip body expands past the limit of {limit} bytes")
    if not d.eof:
        raise Rejected(INVALID, "gzip body is truncated")
    return out


def _status_body(content_type: str, code: int, message: str) -> bytes:
    if content_type == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    return bytes(Status(code=code, message=message).SerializeToString())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse one connection
    server_version = "otel-fold-collect"
    intake: Intake

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        _log.debug("http: " + format, *args)

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            # Chunked bodies are not supported by http.server; every OTLP exporter sends a length.
            self.close_connection = True
            raise Rejected(INVALID, "Content-Length is required")
        n = int(length)
        if n > self.intake.max_bytes:
            self.close_connection = True  # the unread body must not be taken for the next request
        self.intake.check_size(n)
        return self.rfile.read(n)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        reply_type = content_type if content_type in _ACCEPT else PROTOBUF
        try:
            if self.path.split("?")[0] != PATH:
                self.close_connection = True
                raise Rejected(NOT_FOUND, f"no such path {self.path!r}; OTLP traces go to {PATH}")
            try:
                self.intake.authorize(self.headers.get("Authorization"))
            except Rejected:
                self.close_connection = True
                raise
            if content_type not in _ACCEPT:
                self.close_connection = True
                raise Rejected(
                    UNSUPPORTED_MEDIA, f"Content-Type {content_type!r} is not {PROTOBUF} or {JSON}"
                )
            body = self._read_body()
            encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding == "gzip":
                body = _gunzip(body, self.intake.max_bytes)
            elif encoding != "identity":
                raise Rejected(UNSUPPORTED_MEDIA, f"Content-Encoding {encoding!r} is not gzip or identity")
            accept, respond = _ACCEPT[content_type]
            admitted = getattr(self.intake, accept)(body)
        except Rejected as e:
            code = e.reason.grpc_code.value[0]
            self._reply(e.reason.http_status, reply_type, _status_body(reply_type, code, str(e)))
            return
        self._reply(200, content_type, getattr(admitted, respond)())


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up shutdown; stop() drains the intake


def start_http(
    address: str, intake: Intake, *, poll_interval: float = POLL_INTERVAL_S
) -> tuple[ThreadingHTTPServer, int]:
    """Serve OTLP/HTTP on `host:port` (port 0: any free one) in a thread; returns the server and the port."""
    host, _, port = address.rpartition(":")
    handler = type("Handler", (_Handler,), {"intake": intake})
    host = host.strip("[]")
    server_class = (
        type("V6Server", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
    )
    try:
        server = server_class((host, int(port)), handler)
    except (OSError, ValueError) as e:
        raise AnalyzerError(f"cannot listen for OTLP/HTTP on {address}: {e}") from e
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="otlp-http", daemon=True
    ).start()
    return server, server.server_address[1]
