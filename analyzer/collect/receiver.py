"""The receiver: both listeners over one intake and sink, started together and stopped gracefully."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

import grpc

from analyzer.collect.grpc_server import start_grpc
from analyzer.collect.http_server import POLL_INTERVAL_S, start_http
from analyzer.collect.intake import DEFAULT_MAX_BYTES, Intake
from analyzer.collect.sink import Sink

__all__ = ["Receiver"]


class Receiver:
    """OTLP/gRPC and/or OTLP/HTTP trace receiver feeding one sink. Loopback addresses are the caller's default."""

    def __init__(
        self,
        sink: Sink,
        *,
        grpc_address: str | None = "127.0.0.1:4317",
        http_address: str | None = "127.0.0.1:4318",
        token: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.sink = sink
        self._poll_interval = poll_interval
        self.intake = Intake(sink, token=token, max_bytes=max_bytes)
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
                self._grpc, self.grpc_port = start_grpc(self._grpc_address, self.intake)
            if self._http_address:
                self._http, self.http_port = start_http(
                    self._http_address, self.intake, poll_interval=self._poll_interval
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
