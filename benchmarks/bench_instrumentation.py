"""flyte_otel's own cost: helper spans against hand-written SDK spans, and the disabled path against nothing.

Run: .venv/bin/python benchmarks/bench_instrumentation.py [--quick]
Each figure is the best of several interleaved trials (timeit's advice: the minimum is the run least
disturbed by other processes), and every ratio compares two loops measured in this same process.
"""

from __future__ import annotations

import argparse
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
from flyte_otel.file_exporter import encode_json

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


def encoding(n: int, trials: int) -> tuple[float, float]:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False)
    lifecycle_loop(n // 2)
    fo.shutdown()
    spans = memory.get_finished_spans()
    best_ours = best_proto = float("inf")
    for _ in range(trials):
        t0 = time.perf_counter_ns()
        encode_json(spans)
        t1 = time.perf_counter_ns()
        MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        t2 = time.perf_counter_ns()
        best_ours, best_proto = (
            min(best_ours, (t1 - t0) / len(spans)),
            min(best_proto, (t2 - t1) / len(spans)),
        )
    return best_ours, best_proto


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
    ours, proto = encoding(n, trials)

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
    print(f"  OTLP/JSON encode {ours:9.0f} ns/span ours, {proto:.0f} ns/span encode_spans+MessageToDict "
          f"({proto / ours:.1f}x)")  # fmt: skip
    ok = True
    for name, ratio in ratios.items():
        verdict = "ok" if ratio <= LIMITS[name] else "OVER LIMIT"
        ok &= ratio <= LIMITS[name]
        print(f"ratio {name}: {ratio:.2f}x (limit {LIMITS[name]}x) {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
