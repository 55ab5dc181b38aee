"""The receiver fed by the real OpenTelemetry SDK OTLP exporters (gRPC and HTTP) over loopback sockets."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

# The volume: 8 concurrent exporters x 50,000 spans (about 30 s here: the Python SDK, not the
# receiver, is the bottleneck; benchmarks/bench_collect.py times the same load).
EXPORTERS = 8
SPANS_EACH = 50_000


def _exporter(kind: str, receiver, token: str):  # type: ignore[no-untyped-def]
    auth = {"authorization": f"Bearer {token}"}
    if kind == "grpc":
        return GrpcExporter(
            endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, headers=auth, timeout=30
        )
    return HttpExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces", headers=auth, timeout=30)


def _send(kind: str, receiver, token: str, sent: list) -> None:  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    # The queue holds every span, so the processor never drops one (it drops when its queue is full).
    provider.add_span_processor(
        BatchSpanProcessor(
            _exporter(kind, receiver, token), max_queue_size=SPANS_EACH, max_export_batch_size=1000
        )
    )
    tracer = provider.get_tracer("test")
    for i in range(SPANS_EACH):
        with tracer.start_as_current_span(f"op{i % 7}") as span:
            ctx = span.get_span_context()
            sent.append((ctx.trace_id.to_bytes(16, "big"), ctx.span_id.to_bytes(8, "big")))
    provider.shutdown()  # flushes


@pytest.mark.slow
def test_concurrent_grpc_and_http_exporters_store_every_span_exactly_once(
    receiver, token, store_ids, tmp_path
):
    sent: list[list] = [[] for _ in range(EXPORTERS)]
    threads = [
        threading.Thread(target=_send, args=("grpc" if i % 2 else "http", receiver, token, sent[i]))
        for i in range(EXPORTERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    receiver.stop()

    expected = [pair for batch in sent for pair in batch]
    stored = store_ids(tmp_path / "store")
    assert len(expected) == EXPORTERS * SPANS_EACH
    assert len(stored) == len(expected)
    assert set(stored) == set(expected)
    assert receiver.sink.spans == len(expected)


def test_exporter_with_wrong_token_is_refused_and_stores_nothing(receiver, make_spans, store_ids, tmp_path):
    for kind in ("grpc", "http"):
        assert _exporter(kind, receiver, "not-the-token").export(make_spans(3)) == SpanExportResult.FAILURE
    receiver.stop()
    assert store_ids(tmp_path / "store") == []
