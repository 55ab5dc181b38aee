"""Cost of the report's reductions on a big execution, as a ratio to decoding the same payload (same process).

    .venv/bin/python benchmarks/bench_report.py [--quick] [--spans N] [--nodes K]

Target (issue 4): segments + critical path + percentiles + per-round counts (``run_report``) add at most 1x
the decode time. The payload is bench_decode's flyte-shaped orchestration (rounds, streaks, etcd, events,
blob I/O) plus the lifecycle records of a K-node chain recorded through flyte_otel on a virtual clock.
Also prints the percentile fast path (pandas groupby on the categorical column) against a numpy loop per
category over the same durations, and checks that they agree.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.builders, when run as a script

from bench_decode import flyte_execution  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from analyzer import framing  # noqa: E402
from analyzer import table as T  # noqa: E402
from analyzer.decode import decode  # noqa: E402
from analyzer.execution import select_execution  # noqa: E402
from analyzer.reduce.percentiles import QUANTILES, category_stats  # noqa: E402
from analyzer.reduce.report import run_report  # noqa: E402
from tests import builders as B  # noqa: E402

EXEC_ID = "fbench0001"


def _lifecycle(nodes: int) -> bytes:
    """A chain of `nodes` task nodes with known lengths, as one OTLP protobuf payload."""
    t = B.Task(transition=1 * B.MS, node_setup=2 * B.MS, task_setup=3 * B.MS, runtime=10 * B.MS,
               task_teardown=1 * B.MS, node_teardown=2 * B.MS)  # fmt: skip
    with B.recording() as rec:
        B.chain(rec, [t] * nodes, setup=5 * B.MS, teardown=4 * B.MS, exec_id=EXEC_ID)
        return rec.payload()


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _numpy_percentiles(table: T.SpanTable) -> dict[str, tuple[float, ...]]:
    """The baseline: one boolean mask and np.percentile per category."""
    df = table.df
    dur = (df[T.END] - df[T.START]).to_numpy(np.float64)
    cats = df[T.CATEGORY].astype(object).to_numpy()
    return {
        str(c): tuple(np.percentile(dur[cats == c], [q * 100 for q in QUANTILES]))
        for c in df[T.CATEGORY].cat.categories
        if (cats == c).any()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 spans instead of 1,000,000")
    ap.add_argument("--spans", type=int, default=None)
    ap.add_argument(
        "--nodes", type=int, default=1000, help="task nodes with lifecycle records (default 1000)"
    )
    args = ap.parse_args(argv)
    n = args.spans or (50_000 if args.quick else 1_000_000)

    t0 = time.perf_counter()
    records, _json_lines = flyte_execution(n - 3 * args.nodes, exec_id=EXEC_ID)
    records.append(_lifecycle(args.nodes))
    payload = b"".join(framing.frame(r) for r in records)
    del records
    print(f"generated {len(payload) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s")

    out: dict[str, object] = {}
    t_decode = _time(lambda: out.__setitem__("table", decode(payload, "bench.binpb")))
    table = out["table"]
    t_select = _time(lambda: out.__setitem__("ex", select_execution(table, EXEC_ID)))  # type: ignore[arg-type]
    ex = out["ex"]
    t_report = _time(lambda: out.__setitem__("report", run_report(ex)))  # type: ignore[arg-type]
    t_pandas = _time(lambda: out.__setitem__("pandas", category_stats(ex)))  # type: ignore[arg-type]
    t_numpy = _time(lambda: out.__setitem__("numpy", _numpy_percentiles(ex)))  # type: ignore[arg-type]

    pandas_q, numpy_q = out["pandas"], out["numpy"]
    for cat, qs in numpy_q.items():  # type: ignore[attr-defined]
        s = pandas_q[cat]  # type: ignore[index]
        if not np.allclose((s.p50, s.p90, s.p99), qs, rtol=0, atol=1e-6):
            raise SystemExit(f"percentiles of {cat} disagree: pandas {s} vs numpy {qs}")
    report = out["report"]
    spans = len(ex)  # type: ignore[arg-type]
    print(f"spans: {spans:,} in the execution, {len(report['nodes'])} nodes, "  # type: ignore[index]
          f"duration {report['duration'] / 1e9:.1f}s")  # type: ignore[index]  # fmt: skip
    print(f"decode+table   {t_decode:6.2f}s  {spans / t_decode / 1e6:5.2f}M spans/s")
    print(f"select exec    {t_select:6.2f}s")
    print(f"run_report     {t_report:6.2f}s  ratio to decode {t_report / t_decode:5.2f}x (target <= 1x)")
    print(f"percentiles    pandas groupby {t_pandas:6.3f}s | numpy loop per category {t_numpy:6.3f}s | "
          f"ratio {t_pandas / t_numpy:5.2f}x (agree to 1e-6 ns)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
