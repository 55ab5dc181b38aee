"""`otel-fold demo`: the whole loop on the simulator, end to end, in under a minute.

A small portfolio runs on the propeller simulator with traces going to a local store through flyte_otel's
file exporter; one execution is folded on screen; the benchmark YAML is written; the same portfolio runs
again with etcd writes twice as slow, and the diff of the two benchmarks shows the change detected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from analyzer.cli import bench
from analyzer.cli import main as cli_main
from analyzer.cli.output import emit
from analyzer.errors import AnalyzerError
from analyzer.render.formats import renderer
from analyzer.results.diff import REGRESSED

__all__ = ["HELP", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "run a small portfolio on the simulator, fold one run, write a benchmark, and diff a slower etcd"
_BASE, _SLOW = "default", "slow-etcd"  # profiles shipped in propeller_sim; slow-etcd: etcd writes 2x slower
_WATCH = ("etcd", "writes", "latency", "p50")  # the metric the slower profile changes
_FOLDED = "tiny_chain"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the demo writes, and how many runs per workflow."""
    parser.add_argument(
        "--out", default="out/demo", metavar="DIR", help="demo directory (default ./out/demo)"
    )
    parser.add_argument("-n", "--runs", type=int, default=8, help="runs per workflow and side (default 8)")
    parser.add_argument("--workflows", nargs="+", metavar="WORKFLOW", help="instead of the small portfolio")


def run(args: argparse.Namespace) -> int:
    """Run both sides, show the fold and the diff; exit 1 if the slower etcd went undetected."""
    from analyzer.reduce.diff import diff_documents, notable, summary
    from analyzer.render.diff_text import render_summary
    from propeller_sim.portfolio import SMALL

    bench.require_flytekit()
    workflows = args.workflows or list(SMALL)
    if _FOLDED not in workflows:
        workflows.insert(0, _FOLDED)
    out = Path(args.out)
    store = out / "store"
    _clear_previous_runs(store)
    _step(
        f"1. {len(workflows)} workflows x {args.runs} runs on the simulator (profile {_BASE}), traces to {store}/"
    )
    base = _bench(store, workflows, _BASE, seed=1, runs=args.runs)
    base_path = _write(out / "benchmark-base.yaml", base)
    exec_id = base[f"flyte.benchmark.{_FOLDED}"]["runs"][0]["execution"]
    _step(f"2. the fold of one execution ({_FOLDED}): otel-fold {exec_id} --store {store} --depth 3")
    cli_main([exec_id, "--store", str(store), "--depth", "3"])
    _step(f"3. benchmark written: {base_path}")
    _step(f"4. the same runs with etcd writes twice as slow (profile {_SLOW})")
    slow = _bench(store, workflows, _SLOW, seed=2, runs=args.runs)
    slow_path = _write(out / "benchmark-slow-etcd.yaml", slow)
    diffs = {
        d.new_key: d for d in diff_documents(base, slow)
    }  # what `otel-fold diff` does with the two files
    _step(f"5. otel-fold diff {base_path} {slow_path} --only-changes, for {_FOLDED}:")
    emit(renderer("diff", "text")([notable(diffs[f"flyte.benchmark.{_FOLDED}"])]), None, "diff")
    emit(render_summary(*summary(list(diffs.values()))), None, "diff")  # over every workflow
    _step("6. etcd write latency p50, per workflow:")
    missed = []
    for key, d in diffs.items():
        change = d.changes().get(_WATCH)
        verdict = change.verdict if change is not None else "absent"
        ratio = f"x{change.ratio:.2f}" if change is not None and change.ratio else ""
        print(f"   {key}: {verdict} {ratio}")
        if verdict != REGRESSED:
            missed.append(key)
    if missed:
        print(f"the slower etcd was NOT detected for {', '.join(missed)}")
        return 1
    print("detected: every workflow's etcd write latency regressed, beyond the noise band")
    return 0


def _step(text: str) -> None:
    """The demo's narration, on stdout between the outputs it introduces."""
    sys.stdout.write(f"\n== {text}\n")
    sys.stdout.flush()


def _bench(store: Path, workflows: list[str], profile: str, *, seed: int, runs: int) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = [
        *workflows,
        "--runs",
        str(runs),
        "--profile",
        profile,
        "--seed",
        str(seed),
        "--small",
        "--store",
        str(store),
    ]
    return bench.bench(parser.parse_args(argv))


def _write(path: Path, doc: dict[str, Any]) -> Path:
    emit(renderer("report", "yaml")(doc), path, "benchmark")
    return path


def _clear_previous_runs(store: Path) -> None:
    """The demo's store holds only its own trace files: drop an earlier demo's, so the store stays small."""
    from analyzer.framing import SUFFIXES

    try:
        store.mkdir(parents=True, exist_ok=True)
        for old in store.glob("bench-*"):
            if old.suffix in SUFFIXES:
                old.unlink()
    except OSError as e:
        raise AnalyzerError(f"{store}: cannot prepare the demo store ({e.strerror})") from None
