"""Ingest throughput of `otel-fold collect`: storing vs. discarding, with the SDK's OTLP exporters.

8 exporters (half OTLP/gRPC, half OTLP/HTTP protobuf) in threads send 50,000 spans each over loopback to a
receiver that appends to the store, then to the same receiver with a sink that discards; the ratio of
the two is the cost of storing (target: at most 1.5x). Spans are built once, so the figures are export +
transport + receive, not span creation. `--quick`: 5,000 spans per exporter.

    .venv/bin/python benchmarks/bench_collect.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import DiscardSink, StoreSink

EXPORTERS = 8
BATCH = 1000  # spans per export request, like a BatchSpanProcessor with max_export_batch_size=1000


def _batches(n: int) -> list[list]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for i in range(n * BATCH):
        with tracer.start_as_current_span(f"op{i % 13}") as span:
            span.set_attribute("exec_id", f"e{i % 50}")
            span.set_attribute("node", f"n{i % 7}")
    spans = list(memory.get_finished_spans())
    return [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]


def _run(sink, batches: list[list], spans_each: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds to send spans_each spans from each of the exporters to a receiver with this sink."""
    receiver = Receiver(sink, grpc_address="127.0.0.1:0", http_address="127.0.0.1:0").start()
    exporters = [
        GrpcExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=60)
        if i % 2
        else HttpExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces", timeout=60)
        for i in range(EXPORTERS)
    ]
    failures = []

    def send(exporter) -> None:  # type: ignore[no-untyped-def]
        for k in range(spans_each // BATCH):
            if exporter.export(batches[k % len(batches)]) != SpanExportResult.SUCCESS:
                failures.append(k)

    threads = [threading.Thread(target=send, args=(e,)) for e in exporters]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    receiver.stop()
    for e in exporters:
        e.shutdown()
    expected = EXPORTERS * (spans_each // BATCH) * BATCH
    if failures or sink.spans != expected:
        raise SystemExit(f"lost spans: {sink.spans} received of {expected}, {len(failures)} failed exports")
    return elapsed


def main() -> None:
    """Run both receivers alternately and print spans/s and the store/discard ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 spans per exporter instead of 50,000")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each receiver, alternating (default 3)")
    args = ap.parse_args()
    spans_each = 5_000 if args.quick else 50_000
    batches = _batches(5)
    total = EXPORTERS * spans_each
    times: dict[str, list[float]] = {"discard": [], "store": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            times["discard"].append(_run(DiscardSink(), batches, spans_each))
            store = Path(tmp) / f"store{r}"
            times["store"].append(_run(StoreSink(store), batches, spans_each))
            stored = sum(p.stat().st_size for p in store.iterdir())
    print(
        f"{EXPORTERS} exporters x {spans_each:,} spans ({total:,} spans, {BATCH}-span requests), "
        f"median of {args.repeat} runs; store written: {stored / 1e6:.1f} MB per run"
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in ("discard", "store"):
        print(
            f"  {k:8s} {med[k]:7.2f} s  {total / med[k]:>10,.0f} spans/s   runs: "
            + ", ".join(f"{t:.2f}" for t in times[k])
        )
    print(f"  storing costs {med['store'] / med['discard']:.2f}x discarding (target <= 1.5x)")


if __name__ == "__main__":
    main()
