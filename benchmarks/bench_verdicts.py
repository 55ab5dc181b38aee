"""Issue 19's targets: how often `otel-fold diff` flags identical profiles, and whether it catches real changes.

    .venv/bin/python benchmarks/bench_verdicts.py [--pairs 20] [--jobs 2] [--rows aa,ab,slow,calib,time]

Every benchmark file is `otel-fold bench` of the five small workflows (tiny_chain, tiny_parallel, retries,
chained_cache, branch; `--small`), simulated, one file per profile and seed, cached as JSON under
out/bench_verdicts/ (a simulated run took 0.7 s of a core on the shared machine: the ~4,400 runs took ~25 min on
two workers the first time; then only the ~140 diffs run, a few minutes). Rows (20 seed pairs each):

* aa: the default profile against itself, 10 runs a side: diffs with any value flagged (target: <= 1 of 20).
* ab: etcd writes 1.25x slower (p50 8 -> 10 ms, p99 40 -> 50 ms), 10 runs a side: diffs flagging the etcd-write
  latency (target: >= 19 of 20), and each other category's count (target: none >= 19).
* slow: the demo's slow-etcd profile (2x), 5 runs a side: diffs flagging the etcd-write latency (>= 19 of 20).
* calib: tiny_parallel's n20 (task `total`, one node) with its user code (task.run) slower by 1.5x and 0.5x
  the minimum detectable effect the A/A diffs report for its TASK_RUNTIME (a factor f: k x the MDE is f**k,
  and, for comparison, 1 + k(f - 1) as a relative change),
  10 runs a side: diffs flagging it (targets: >= 16 of 20 and <= 2 of 20). Only tiny_parallel is simulated
  again (the task is in no other workflow); the new side's other entries are the A/A pair's.
* time: one diff of two 10-run files against loading the two files (target: <= 20x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.decode.report import decode_report  # noqa: E402
from analyzer.reduce.diff import diff_documents, summary  # noqa: E402
from analyzer.results.diff import IMPROVED, REGRESSED, Diff  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench_verdicts"
WORKFLOWS = ("tiny_chain", "tiny_parallel", "retries", "chained_cache", "branch")
CALIB_TASK = "propeller_sim.portfolio._tasks.total"
CALIB_VALUE = ("nodes", "n20", "segments", "TASK_RUNTIME")  # of flyte.benchmark.tiny_parallel
CALIB_ENTRY = "flyte.benchmark.tiny_parallel"
ETCD = ("etcd", "writes")
FLAGS = (REGRESSED, IMPROVED)


def _profile(name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the default profile with `edit` applied, written under OUT/profiles."""
    doc = yaml.safe_load((ROOT / "propeller_sim" / "profiles" / "default.yaml").read_text())
    doc["name"] = name
    edit(doc)
    path = OUT / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _etcd_125(doc: dict[str, Any]) -> None:
    doc["operations"]["etcd.write"] = {"dist": "lognormal", "p50": "10ms", "p99": "50ms"}


def _task_run(factor: float) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["tasks"] = {CALIB_TASK: {"task.run": {"dist": "lognormal", "p50": f"{500 * factor:.3f}ms",
                                                  "p99": f"{2000 * factor:.3f}ms"}}}  # fmt: skip

    return edit


def bench_file(profile: str | Path, seed: int, runs: int, workflows: Sequence[str] = WORKFLOWS) -> Path:
    """The cached benchmark file of `profile` at `seed` (simulated if not cached yet)."""
    tag = Path(profile).stem if isinstance(profile, Path) else profile
    only = "" if tuple(workflows) == WORKFLOWS else "-" + "+".join(workflows)
    path = OUT / f"{tag}-s{seed}-n{runs}{only}.json"
    if path.exists():
        return path
    store = Path(tempfile.mkdtemp(prefix="bench-verdicts-"))
    try:
        tmp = path.with_suffix(".part")
        subprocess.run(
            [sys.executable, "-m", "analyzer", "bench", *workflows, "--small", "-n", str(runs), "--seed", str(seed),
             "--profile", str(profile), "--store", str(store), "--json", "-o", str(tmp)],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        tmp.rename(path)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return path


def _generate(
    jobs: Sequence[tuple[str | Path, int, int]], workers: int, workflows: Sequence[str] = WORKFLOWS
) -> list[Path]:
    t0 = time.perf_counter()
    todo = [j for j in jobs if not (OUT / f"{Path(j[0]).stem}-s{j[1]}-n{j[2]}.json").exists()]
    with ThreadPoolExecutor(workers) as pool:
        paths = list(pool.map(lambda j: bench_file(*j, workflows=workflows), jobs))
    if todo and tuple(workflows) == WORKFLOWS:
        runs = sum(len(WORKFLOWS) * j[2] for j in todo)
        took = time.perf_counter() - t0
        print(
            f"  simulated {len(todo)} files ({runs} runs) in {took:.0f} s: {took * workers / runs:.3f} s a run"
        )
    return paths


def _load(path: Path) -> dict[str, Any]:
    return decode_report(path.read_text(encoding="utf-8"), str(path))


def _diff(base: Path, new: Path) -> list[Diff]:
    return diff_documents(_load(base), _load(new))


def _flagged(diffs: Sequence[Diff]) -> dict[tuple[str, ...], str]:
    """Every flagged value, keyed (entry, *path), with its verdict."""
    return {(d.new_key, *p): c.verdict for d in diffs for p, c in d.changes().items() if c.verdict in FLAGS}


def _category(key: tuple[str, ...]) -> str | None:
    """'etcd.writes' for a category latency value of some entry, else None."""
    path = key[1:]
    if len(path) >= 3 and path[2] == "latency" and path[0] not in ("nodes",):
        return ".".join(path[:2])
    return None


def row_aa(pairs: int, workers: int) -> None:
    print("A/A: default vs default, 10 runs a side, different seeds")
    files = _generate([("default", s, 10) for i in range(pairs) for s in (1000 + i, 2000 + i)], workers)
    hit, tested, closest = 0, 0, []
    for i in range(pairs):
        diffs = _diff(files[2 * i], files[2 * i + 1])
        tested = summary(diffs)[0]
        flags = _flagged(diffs)
        hit += bool(flags)
        for k, v in flags.items():
            print(f"    pair {i}: {v} {'.'.join(k)}")
        # the level at which this diff would have flagged something: the smallest q of a value clear of the band
        clear = [
            c.q for d in diffs for c in d.changes().values() if c.q is not None and c.ci and _clear(c.ci)
        ]
        closest.append(min(clear, default=1.0))
    print(f"  diffs with a flag: {hit} of {pairs} (target <= 1; {tested} values tested a diff)")
    for level in (0.05, 0.1, 0.2, 0.5):
        print(f"    at level {level}: {sum(q < level for q in closest)} of {pairs} would flag")


def _clear(ci: tuple[float, float], noise: float = 0.05) -> bool:
    return ci[0] > 1 + noise or ci[1] < 1 - noise


def row_ab(pairs: int, workers: int) -> None:
    print("A/B: etcd writes 1.25x slower, 10 runs a side")
    slow = _profile("etcd-1.25x", _etcd_125)
    base = _generate([("default", 1000 + i, 10) for i in range(pairs)], workers)
    new = _generate([(slow, 3000 + i, 10) for i in range(pairs)], workers)
    _category_counts([_flagged(_diff(b, n)) for b, n in zip(base, new, strict=True)], pairs)


def row_slow(pairs: int, workers: int) -> None:
    print("A/B: etcd writes 2x slower (slow-etcd), 5 runs a side")
    base = _generate([("default", 4000 + i, 5) for i in range(pairs)], workers)
    new = _generate([("slow-etcd", 5000 + i, 5) for i in range(pairs)], workers)
    _category_counts([_flagged(_diff(b, n)) for b, n in zip(base, new, strict=True)], pairs)


def _category_counts(flags: Sequence[dict[tuple[str, ...], str]], pairs: int) -> None:
    per_category: dict[str, int] = {}
    per_entry: dict[str, int] = {}
    for f in flags:
        cats = {c for k in f if (c := _category(k))}
        for c in cats:
            per_category[c] = per_category.get(c, 0) + 1
        for entry in {k[0] for k in f if _category(k) == "etcd.writes"}:
            per_entry[entry] = per_entry.get(entry, 0) + 1
    print(
        f"  etcd-write latency flagged in {per_category.get('etcd.writes', 0)} of {pairs} diffs (target >= 19)"
    )
    for entry, n in sorted(per_entry.items()):
        print(f"    in {entry}: {n} of {pairs}")
    others = {c: n for c, n in per_category.items() if c != "etcd.writes"}
    print(f"  other categories flagged (target: none in >= 19): {others or 'none'}")


def row_calib(pairs: int, workers: int) -> None:
    print(f"calibration: {CALIB_ENTRY} {'.'.join(CALIB_VALUE)} (task.run of {CALIB_TASK.rsplit('.', 1)[1]})")
    aa = _generate([("default", s, 10) for i in range(pairs) for s in (1000 + i, 2000 + i)], workers)
    mdes = []
    for i in range(pairs):
        d = {x.new_key: x for x in _diff(aa[2 * i], aa[2 * i + 1])}[CALIB_ENTRY]
        c = d.changes()[CALIB_VALUE]
        if c.mde is not None:
            mdes.append(c.mde)
    factor = statistics.median(mdes)
    print(
        f"  reported MDE: x{factor:.3f} (median of {len(mdes)} A/A diffs; range x{min(mdes):.3f}-x{max(mdes):.3f})"
    )
    for (k, target), (reading, scale) in product(
        ((1.5, ">= 16"), (0.5, "<= 2")), (("", lambda k: factor**k), ("rel", lambda k: 1 + k * (factor - 1)))
    ):
        change = scale(k)
        prof = _profile(f"calib{reading}-{k}", _task_run(change))
        jobs = [(prof, (6000 if k > 1 else 7000) + i, 10) for i in range(pairs)]
        # the task runs in tiny_parallel only: the other workflows' runs are the A/A new side's
        new = _generate(jobs, workers, workflows=["tiny_parallel"])
        hit = 0
        for i in range(pairs):
            doc = {**_load(aa[2 * i + 1]), **_load(new[i])}
            d = {x.new_key: x for x in diff_documents(_load(aa[2 * i]), doc)}[CALIB_ENTRY]
            hit += d.changes()[CALIB_VALUE].verdict in FLAGS
        how = "as a relative change, 1 + k(f - 1)" if reading else "in log, f**k"
        print(f"  {k}x the MDE {how} (task.run x{change:.3f}): flagged in {hit} of {pairs} (target {target})")


def row_time(pairs: int, workers: int) -> None:
    print("time: one diff of two 10-run, 5-workflow benchmarks against loading the two files")
    a, b = _generate([("default", 1000, 10), ("default", 2000, 10)], workers)
    for fmt in ("json", "yaml"):
        paths = [a, b] if fmt == "json" else [_as_yaml(a), _as_yaml(b)]
        load = _best(lambda paths=paths: [_load(p) for p in paths])
        docs = [_load(p) for p in paths]
        took = _best(lambda docs=docs: diff_documents(*docs))
        print(f"  {fmt}: load {load:.2f} s, diff {took:.2f} s: {took / load:.2f}x (target <= 20x)")


def _as_yaml(path: Path) -> Path:
    from analyzer.render.report_yaml import render_yaml

    out = path.with_suffix(".yaml")
    if not out.exists():
        out.write_text(render_yaml(json.loads(path.read_text())))
    return out


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


ROWS: dict[str, Callable[[int, int], None]] = {
    "aa": row_aa, "ab": row_ab, "slow": row_slow, "calib": row_calib, "time": row_time,
}  # fmt: skip


def main() -> None:
    """Run the chosen rows and print their counts."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=20, help="seed pairs per row (default 20)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="simulations at once")
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    p.add_argument("--generate-only", action="store_true", help="simulate and cache the files, judge nothing")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        n = args.pairs
        slow = _profile("etcd-1.25x", _etcd_125)
        _generate([("default", s, 10) for i in range(n) for s in (1000 + i, 2000 + i)]
                  + [(slow, 3000 + i, 10) for i in range(n)]
                  + [("default", 4000 + i, 5) for i in range(n)] + [("slow-etcd", 5000 + i, 5) for i in range(n)],
                  args.jobs)  # fmt: skip
        return
    for name in args.rows.split(","):
        ROWS[name](args.pairs, args.jobs)


if __name__ == "__main__":
    main()
