"""The receiver: both listeners over one intake and sink, started together and stopped gracefully."""

from __future__ import annotations

import ipaddress
from http.server import ThreadingHTTPServer

import grpc

from analyzer.collect.connections import DEFAULT_MAX_BYTES, Limits
from analyzer.collect.grpc_server import start_grpc
from analyzer.collect.http_server import POLL_INTERVAL_S, start_http
from analyzer.collect.intake import Intake
from analyzer.collect.sink import Sink
from analyzer.errors import AnalyzerError

__all__ = ["Receiver", "is_loopback"]


def is_loopback(address: str) -> bool:
    """Whether `host:port` listens on loopback only (127.0.0.0/8, ::1, localhost); an empty host is every address."""
    host = address.rpartition(":")[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, or empty: it may reach beyond this machine
        return False


class Receiver:
    """OTLP/gRPC and/or OTLP/HTTP trace receiver feeding one sink. Loopback addresses are the caller's default.

    A listener beyond loopback needs a token, unless `insecure_no_token` says that none is wanted.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        grpc_address: str | None = "127.0.0.1:4317",
        http_address: str | None = "127.0.0.1:4318",
        token: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        limits: Limits | None = None,
        insecure_no_token: bool = False,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        for name, address in (("grpc", grpc_address), ("http", http_address)):
            if address and not token and not insecure_no_token and not is_loopback(address):
                raise AnalyzerError(
                    f"--{name} {address} listens beyond loopback without a token: set the token's "
                    "variable (--token-env), or pass --insecure-no-token to accept anyone who can connect"
                )
        self.sink = sink
        self._poll_interval = poll_interval
        self.intake = Intake(sink, token=token, max_bytes=max_bytes)
        self._limits = limits or Limits()
        self._grpc_address = grpc_address
        self._http_address = http_address
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    def start(self) -> Receiver:
        """Bind and start serving; raises AnalyzerError naming the address if one cannot be bound."""
        try:
            if self._grpc_address:
                self._grpc, self.grpc_port = start_grpc(self._grpc_address, self.intake, limits=self._limits)
            if self._http_address:
                self._http, self.http_port = start_http(
                    self._http_address, self.intake, limits=self._limits, poll_interval=self._poll_interval
                )
        except BaseException:
            self.stop(grace=0)
            raise
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (up to `grace` s), then flush and close the sink."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        self.intake.drain(grace)
        self.sink.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
