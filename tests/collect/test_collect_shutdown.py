"""Graceful stop: a request already being handled when stop() is called is stored and acknowledged."""

from __future__ import annotations

import http.client
import threading

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import StoreSink


class _HeldSink(StoreSink):
    """A store sink that holds each put until released, before it touches the files."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.entered, self.release = threading.Event(), threading.Event()

    def put_proto(self, raw: bytes, spans: int) -> None:
        self.entered.set()
        self.release.wait(30)
        super().put_proto(raw, spans)


def test_stop_drains_a_request_in_flight_before_closing_the_store(tmp_path, make_spans, store_ids):
    sink = _HeldSink(tmp_path / "store")
    receiver = Receiver(sink, grpc_address=None, http_address="127.0.0.1:0", poll_interval=0.02).start()
    req = encode_spans(make_spans(7))
    status: list[int] = []

    def post() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=30)
        conn.request(
            "POST",
            "/v1/traces",
            body=req.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        status.append(conn.getresponse().status)
        conn.close()

    client = threading.Thread(target=post)
    client.start()
    assert sink.entered.wait(30)
    draining = threading.Event()
    drain = receiver.intake.drain

    def observed_drain(timeout: float) -> bool:
        draining.set()
        return drain(timeout)

    receiver.intake.drain = observed_drain  # type: ignore[method-assign]
    stopper = threading.Thread(target=receiver.stop, kwargs={"grace": 30})
    stopper.start()
    # Listeners are stopped and stop() is draining: only now let the held request reach the store,
    # which must still be open.
    assert draining.wait(30)
    sink.release.set()
    stopper.join(60)
    client.join(60)
    assert status == [200]
    assert sorted(store_ids(tmp_path / "store")) == sorted(
        (s.trace_id, s.span_id) for s in req.resource_spans[0].scope_spans[0].spans
    )
