"""Simulator cost per span vs the OpenTelemetry SDK's own cost per span, same process, same file exporter.

The simulator runs portfolio workflows on the virtual clock into flyte_otel's file exporter (its own batches of
protobuf records, written by its thread). The baseline creates and ends plain spans through the same provider,
processor and exporter. Prints µs per span, spans/s and the ratio (the target is at most 2x).

    .venv/bin/python benchmarks/bench_simulator.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import flyte_otel as fo
from analyzer.load import read
from flyte_otel import semconv as sc
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator, configure
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import load_profile

# workflow -> input overrides: the full sizes, and --quick's
_FULL: dict[str, dict[str, int]] = {
    "large_workflow": {},
    "big_map": {},
    "tiny_parallel": {},
    "nested_dynamic": {},
}
_QUICK: dict[str, dict[str, int]] = {"tiny_parallel": {}, "big_map": {"n": 300}, "nested_dynamic": {}}


def _spans(path: Path) -> int:
    fo.force_flush()
    return len(read(path))


def _baseline(n: int) -> float:
    """Seconds for n spans created and ended through flyte_otel's provider (3 attributes, like most helpers)."""
    tracer = fo.tracer_provider().get_tracer("baseline")
    attrs = {sc.EXEC_ID: "fbaseline0000000000", sc.NODE_ID: "n0", sc.PHASE: sc.Phase.RUNNING}
    t0 = time.perf_counter()
    for _ in range(n):
        tracer.start_span(sc.HANDLE_NODE, attributes=attrs).end()
    fo.force_flush()
    return time.perf_counter() - t0


def main() -> int:
    """Run the comparison and print it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small workflows only")
    args = ap.parse_args()
    workflows = _QUICK if args.quick else _FULL
    plans = {name: BY_NAME[name].plan(overrides) for name, overrides in workflows.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spans.binpb"
        configure("flyte_otel", exporter="file", path=path)
        # Warm up both paths (first-call costs: imports, caches), then start counting from a clean file.
        Simulator(load_profile("default"), clock=VirtualClock(0)).run(BY_NAME["tiny_chain"].plan())
        _baseline(1000)
        skip = _spans(path)
        gc.collect()
        t0 = time.perf_counter()
        sim = Simulator(load_profile("default"), seed=1, clock=VirtualClock(1_700_000_000_000_000_000))
        for plan in plans.values():
            sim.run(plan)
        fo.force_flush()  # the last batch's writing is part of the cost
        sim_s = time.perf_counter() - t0
        n = _spans(path) - skip
        gc.collect()
        base_s = (_baseline(n) + _baseline(n)) / 2
        fo.shutdown()
        assert _spans(path) == skip + 3 * n, "spans lost"
    sim_us, base_us = sim_s / n * 1e6, base_s / n * 1e6
    print(f"workflows: {', '.join(workflows)}; spans per pass: {n}")
    print(
        f"OpenTelemetry SDK, create+end one span, file exporter: {base_us:7.1f} µs/span  {n / base_s:9.0f} spans/s"
    )
    print(
        f"simulator, whole cost per span (virtual clock):         {sim_us:7.1f} µs/span  {n / sim_s:9.0f} spans/s"
    )
    print(f"ratio simulator / SDK: {sim_us / base_us:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
