"""Stitch + fold of a large execution, measured against decoding the same spans (OTLP protobuf) in-process.

    .venv/bin/python benchmarks/bench_fold.py            # 1,000,000 spans
    .venv/bin/python benchmarks/bench_fold.py --quick    # 50,000 spans

The execution is flyte_otel's one-trace shape: an execution root; rounds under it, each with a streak, an
etcd read and write, and four handled nodes (task handling, an event, a blob read); plus an array node
whose sub-task attempts each run user code. Prints CPU seconds, spans/s, the ratio of stitch+fold time to
decode time (the baseline), and how many lines the fold has with and without collapsing repeated siblings.
"""

from __future__ import annotations

import argparse
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from analyzer.execution import select_execution, stitch
from analyzer.load import load
from analyzer.reduce.fold import fold
from analyzer.reduce.self_time import statistics
from analyzer.render import fold_text
from flyte_otel import semconv as sc

EXEC_ID = "bench-exec"
_TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
_US = 1_000
_T0 = 1_700_000_000 * 10**9
_ROUND_NAMES = (sc.STREAK, sc.WORKFLOW_STORE_GET, sc.WORKFLOW_STORE_UPDATE)
_NODE_NAMES = (sc.HANDLE_TASK, sc.CREATE_NODE_EVENT, sc.READ_PROTOBUF)
SPANS_PER_ROUND = 1 + len(_ROUND_NAMES) + 4 * (1 + len(_NODE_NAMES))  # 20


def build_payload(n_spans: int) -> bytes:
    """An ExportTraceServiceRequest with about ``n_spans`` spans of one execution (virtual clock, 1µs steps)."""
    spans: list[Span] = []
    exec_attr = [KeyValue(key=sc.EXEC_ID, value=AnyValue(string_value=EXEC_ID))]
    next_id = iter(range(1, 1 << 62))

    def add(name: str, parent: bytes, start_us: int, end_us: int, node: str | None = None) -> bytes:
        span_id = next(next_id).to_bytes(8, "big")
        attrs = exec_attr + ([KeyValue(key=sc.NODE_ID, value=AnyValue(string_value=node))] if node else [])
        span = Span(trace_id=_TRACE, span_id=span_id, parent_span_id=parent, name=name, attributes=attrs)
        span.kind = Span.SPAN_KIND_INTERNAL
        span.start_time_unix_nano, span.end_time_unix_nano = _T0 + start_us * _US, _T0 + end_us * _US
        spans.append(span)
        return span_id

    attempts = n_spans // 10
    rounds = (n_spans - attempts) // SPANS_PER_ROUND
    length = 100 * (rounds + attempts) + 1_000
    root = add(sc.EXECUTION, b"", 0, length)
    for r in range(rounds):
        t = 100 * r
        rnd = add(sc.ROUND, root, t, t + 90)
        for k, name in enumerate(_ROUND_NAMES):
            add(name, rnd, t + k, t + k + 1)
        for n in range(4):
            node = f"n{n}"
            h = add(sc.HANDLE_NODE, rnd, t + 10 + 20 * n, t + 29 + 20 * n, node)
            for k, name in enumerate(_NODE_NAMES):
                add(name, h, t + 11 + 20 * n + 2 * k, t + 12 + 20 * n + 2 * k, node)
    array = add(sc.NODE, root, 100 * rounds, length, "n-array")
    for i in range(attempts // 2):
        t = 100 * rounds + 10 + 2 * i
        attempt = add(sc.ATTEMPT, array, t, t + 50 + i % 97, "n-array")
        add(sc.USER_CODE, attempt, t + 5, t + 40 + i % 89)
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=sc.SERVICE_PROPELLER))]
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    # CPU time of this process, not wall time: on a shared machine wall time mostly measures the neighbours.
    t0 = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 spans instead of 1,000,000")
    parser.add_argument("--spans", type=int, default=None)
    args = parser.parse_args()
    n = args.spans or (50_000 if args.quick else 1_000_000)

    payload, t_build = _timed(build_payload, n)
    table, t_decode = _timed(load, payload)  # the baseline: OTLP protobuf -> span table
    selected, t_select = _timed(select_execution, table, EXEC_ID)
    ex, t_stitch = _timed(stitch, selected, EXEC_ID)
    folded, t_fold = _timed(fold, ex)
    text, t_render = _timed(fold_text.render, folded)
    _, t_stats = _timed(statistics, ex, "category")
    uncollapsed, t_fold0 = _timed(fold, ex, collapse=0)
    n_lines0, t_render0 = _timed(sum, (1 for _ in fold_text.lines(uncollapsed)))

    spans = len(ex)
    work = t_select + t_stitch + t_fold
    print(
        f"spans: {spans:,} ({len(payload) / 1e6:.1f} MB OTLP protobuf, built in {t_build:.2f}s); CPU seconds"
    )
    print(f"decode (baseline)      {t_decode:8.3f}s  {spans / t_decode:12,.0f} spans/s")
    print(f"select whole traces    {t_select:8.3f}s")
    print(f"stitch                 {t_stitch:8.3f}s")
    print(f"fold (collapse 20)     {t_fold:8.3f}s")
    print(
        f"select+stitch+fold     {work:8.3f}s  {spans / work:12,.0f} spans/s  ratio to decode {work / t_decode:.3f}"
    )
    print(f"render text            {t_render:8.3f}s  ({len(folded)} lines, {len(text):,} chars)")
    print(f"self-time statistics   {t_stats:8.3f}s  ratio to decode {t_stats / t_decode:.3f}")
    print(f"fold (no collapsing)   {t_fold0:8.3f}s  ({len(uncollapsed):,} lines)")
    print(f"render (no collapsing) {t_render0:8.3f}s  ({n_lines0:,} text lines, header included)")
    print(f"fold lines: {len(folded)} with --collapse 20 vs {len(uncollapsed):,} without")
    print(text if len(folded) <= 40 else "")


if __name__ == "__main__":
    main()
