"""flyte_otel's own cost: helper spans against hand-written SDK spans, the disabled path against nothing, the
file exporter's encoders against the SDK's, and the file exporter against an exporter that discards.

Run: .venv/bin/python benchmarks/bench_instrumentation.py [--quick]
Each figure is the best of several interleaved trials (timeit's advice: the minimum is the run least
disturbed by other processes), and every ratio compares two loops measured in this same process. The file
exporter's figures are CPU time of the whole process (its writer thread's encoding included, up to the
shutdown that writes the last batch), so that other work on the machine does not count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from flyte_otel import semconv as sc
from flyte_otel.file_exporter import OtlpFileExporter
from flyte_otel.otlp_encode import ProtoEncoder, encode_json

EXEC, WF, NS, NODE = "f8a1b2c3d4e5", "wf.chained_cache", "flytesnacks-development", "n0"
LIMITS = {"enabled helper / start_as_current_span": 1.15, "disabled helper / nullcontext": 3.0}


class _Drop(SpanExporter):
    """Accept and discard: the processor's work stays, the export costs nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _best(loops: dict[str, Callable[[int], None]], n: int, trials: int) -> dict[str, float]:
    """ns per iteration of each loop, the minimum over interleaved trials."""
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(trials):
        for name, loop in loops.items():
            t0 = time.perf_counter_ns()
            loop(n)
            best[name] = min(best[name], (time.perf_counter_ns() - t0) / n)
    return best


def enabled_loops() -> dict[str, Callable[[int], None]]:
    tracer = fo.tracer_provider().get_tracer("bench")

    def sdk_round(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span(
                sc.ROUND, attributes={sc.EXEC_ID: EXEC, sc.WORKFLOW: WF, sc.NAMESPACE: NS}
            ):
                pass

    def helper_round(n: int) -> None:
        for _ in range(n):
            with fo.round(EXEC, wf=WF, ns=NS):
                pass

    def sdk_node(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span(
                sc.HANDLE_NODE, attributes={sc.EXEC_ID: EXEC, sc.NODE_ID: NODE}
            ):
                pass

    def helper_node(n: int) -> None:
        for _ in range(n):
            with fo.handle_node(EXEC, NODE):
                pass

    return {
        "sdk round": sdk_round,
        "helper round": helper_round,
        "sdk node": sdk_node,
        "helper node": helper_node,
    }


def disabled_loops() -> dict[str, Callable[[int], None]]:
    def empty(n: int) -> None:
        for _ in range(n):
            with nullcontext():
                pass

    def helper(n: int) -> None:
        for _ in range(n):
            with fo.round(EXEC, wf=WF, ns=NS):
                pass

    return {"nullcontext": empty, "disabled round": helper}


def lifecycle_loop(n: int) -> None:
    ex = fo.execution(EXEC, start=0)
    for i in range(n):
        node = ex.node(f"n{i}", kind=sc.NodeKind.TASK, upstream=("start-node",), start=i)
        attempt = node.attempt(0, start=i)
        attempt.end(sc.Phase.SUCCEEDED, at=i + 1)
        node.end(sc.Phase.SUCCEEDED, at=i + 1)
    ex.end(sc.Phase.SUCCEEDED, at=n)


def encoding(n: int, trials: int) -> dict[str, float]:
    """ns per span of each encoder, on batches of the file exporter's size."""
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False)
    lifecycle_loop(n // 2)
    fo.shutdown()
    spans = memory.get_finished_spans()
    batches = [spans[i : i + 4096] for i in range(0, len(spans), 4096)]
    proto = ProtoEncoder()
    encoders: dict[str, Callable[[Sequence[ReadableSpan]], object]] = {
        "JSON line ours": lambda b: json.dumps(encode_json(b), separators=(",", ":")),
        "JSON line encode_spans+MessageToDict": lambda b: json.dumps(
            MessageToDict(encode_spans(b), use_integers_for_enums=True), separators=(",", ":")
        ),
        "protobuf ours": proto.encode,
        "protobuf encode_spans+SerializeToString": lambda b: encode_spans(b).SerializeToString(),
    }
    best = dict.fromkeys(encoders, float("inf"))
    for _ in range(trials):
        for name, encode in encoders.items():
            t0 = time.perf_counter_ns()
            for batch in batches:
                encode(batch)
            best[name] = min(best[name], (time.perf_counter_ns() - t0) / len(spans))
    return best


def file_exporter(n: int, trials: int) -> dict[str, float]:
    """CPU ns per span of the lifecycle loop through configure(), with each file format and with a discarding
    exporter, up to the shutdown that writes the last batch."""
    with tempfile.TemporaryDirectory() as tmp:
        exporters: dict[str, Callable[[int], SpanExporter]] = {
            "discard": lambda _: _Drop(),
            "file .binpb": lambda i: OtlpFileExporter(f"{tmp}/{i}.binpb"),
            "file .jsonl": lambda i: OtlpFileExporter(f"{tmp}/{i}.jsonl"),
        }
        best = dict.fromkeys(exporters, float("inf"))
        for trial in range(trials):
            for name, make in exporters.items():
                fo.configure(exporter=make(trial))
                t0 = time.process_time_ns()
                lifecycle_loop(n // 2)
                fo.shutdown()
                best[name] = min(best[name], (time.process_time_ns() - t0) / (n // 2 * 2 + 1))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args(argv)
    n, trials = (2_000, 3) if args.quick else (20_000, 7)

    fo.configure(exporter=_Drop(), batch=False)
    on = _best(enabled_loops(), n, trials)
    t0 = time.perf_counter_ns()
    lifecycle_loop(n // 2)
    lifecycle_ns = (time.perf_counter_ns() - t0) / (n // 2 * 2 + 1)
    fo.shutdown()
    fo.configure(enabled=False)
    off = _best(disabled_loops(), n * 10, trials)
    encoders = encoding(n, trials)
    files = file_exporter(n, trials)

    ratios = {
        "enabled helper / start_as_current_span": max(
            on["helper round"] / on["sdk round"], on["helper node"] / on["sdk node"]
        ),
        "disabled helper / nullcontext": off["disabled round"] / off["nullcontext"],
    }
    print(f"n={n} trials={trials} (best of trials, ns per span / per block)")
    for name, value in {**on, **off}.items():
        print(f"  {name:<16} {value:9.0f} ns")
    print(f"  lifecycle span   {lifecycle_ns:9.0f} ns  (node + attempt records, ended)")
    for name, value in encoders.items():
        print(f"  encode {name:<40} {value:7.0f} ns/span")
    print(f"  encode_spans / ours: JSON {encoders['JSON line encode_spans+MessageToDict'] / encoders['JSON line ours']:.1f}x, "
          f"protobuf {encoders['protobuf encode_spans+SerializeToString'] / encoders['protobuf ours']:.1f}x")  # fmt: skip
    for name, value in files.items():
        print(f"  lifecycle span, {name:<12} {value:7.0f} ns CPU ({value / files['discard']:.2f}x discard)")
    ok = True
    for name, ratio in ratios.items():
        verdict = "ok" if ratio <= LIMITS[name] else "OVER LIMIT"
        ok &= ratio <= LIMITS[name]
        print(f"ratio {name}: {ratio:.2f}x (limit {LIMITS[name]}x) {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
