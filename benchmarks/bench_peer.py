"""`otel-fold EXEC_ID` against upstream fold-logs.py on the same execution, whole processes, start-up included.

    .venv/bin/python benchmarks/bench_peer.py               # large_workflow, 9 interleaved runs each
    .venv/bin/python benchmarks/bench_peer.py --runs 5 --workflow big_map

Builds (once; kept under out/bench_peer/) two stores written by `otel-fold bench --dialect upstream`: one
execution of the workflow, and the same plus 20 more executions. The peer folds the first execution's
propeller log, rendered from the store by ../shared/peer/trace2log.py (see its README). Then, interleaved,
medians of wall time:

* fold-logs.py on the log (the baseline);
* `otel-fold EXEC --store ONE` (the issue's target: <= 2x the peer);
* `otel-fold EXEC --store TWENTY_ONE` (<= 1.2x the single-execution store);
* `otel-fold --version` and `python -c pass` (start-up).

The project's modules are compiled to bytecode first, as an installed package has them (pip compiles them
at install): an editable install has none, and where PYTHONDONTWRITEBYTECODE is set (as on the machines
these figures come from) every run would compile the analyzer from source (~50 ms of CPU, measured).

Peak memory: the fold's maximum resident set, less that of a process importing what the fold imports and
reading nothing, against the bytes of the records read (the index's ranges). (An id no index knows is no
baseline: its answer lists the store's executions, with pandas, which the fold does without.)
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "peer"
OUT = ROOT / "out" / "bench_peer"
CLI = [sys.executable, "-m", "analyzer"]
# What `otel-fold EXEC --store DIR` imports before it reads anything (the memory baseline).
_FOLD_IMPORTS = (
    "import analyzer.cli.fold, analyzer.source.local, analyzer.reduce.fold, analyzer.render.fold_text"
)


def _bench_store(workflow: str, runs: int, store: Path) -> list[str]:
    """The execution ids of a store of `runs` executions of `workflow` (built if missing)."""
    ids_file = store.with_suffix(".ids")
    if not ids_file.exists():
        shutil.rmtree(store, ignore_errors=True)
        report = store.with_suffix(".yaml")
        subprocess.run(
            [*CLI, "bench", workflow, "-n", str(runs), "--dialect", "upstream", "--store", str(store),
             "-o", str(report)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ids = re.findall(r"^\s*(?:- )?execution: (\S+)$", report.read_text(), re.MULTILINE)
        ids_file.write_text("\n".join(ids))
    return ids_file.read_text().split()


def _run(cmd: list[str], out: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one whole process."""
    start = time.perf_counter()
    with open(out or os.devnull, "wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: not found (the memory baseline's wrong id)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def _regions_bytes(store: Path, exec_id: str) -> int:
    from analyzer.indexing import file_index, regions_to_read
    from analyzer.store.files import store_files

    indexes = [file_index(path) for path in store_files(store)]
    traces = set().union(*(index.traces_of(exec_id) for index, _ in indexes))
    return sum(
        end - start for index, size in indexes for start, end, _ in regions_to_read(index, size, traces)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", default="large_workflow")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    one, many = OUT / f"{args.workflow}-1", OUT / f"{args.workflow}-21"
    exec_id = _bench_store(args.workflow, 1, one)[0]
    asked = _bench_store(args.workflow, 21, many)[10]
    log = OUT / f"{args.workflow}.log"
    if not log.exists():
        with open(log, "wb") as f:
            subprocess.run(
                [sys.executable, str(PEER / "trace2log.py"), str(one), exec_id], stdout=f, check=True
            )
    for package in ("analyzer", "flyte_otel"):
        compileall.compile_dir(ROOT / package, quiet=1)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "fold-logs.py": [sys.executable, str(PEER / "fold-logs.py"), str(log), exec_id, "-e"],
        "otel-fold (1 execution)": [*CLI, exec_id, "--store", str(one)],
        "otel-fold (21 executions)": [*CLI, asked, "--store", str(many)],
        "otel-fold --version": [*CLI, "--version"],
        "otel-fold (unknown id)": [*CLI, "no-such-execution", "--store", str(one)],
        "the fold's imports": [sys.executable, "-c", _FOLD_IMPORTS],
    }
    for cmd in commands.values():  # warm: indexes built, files in the page cache
        _run(cmd)
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, int] = {}
    for i in range(args.runs):
        for name in list(commands)[:: 1 if i % 2 else -1]:
            elapsed, peak = _run(commands[name])
            times[name].append(elapsed)
            peaks[name] = max(peaks.get(name, 0), peak)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.workflow}, {args.runs} interleaved runs each, medians (wall s):")
    for name, value in med.items():
        print(f"  {name:28s} {value:7.3f} s")
    print(
        f"otel-fold / fold-logs.py (1 execution):    {med['otel-fold (1 execution)'] / med['fold-logs.py']:.2f}x  (target <= 2x)"
    )
    print(
        f"21-execution store / 1-execution store:     {med['otel-fold (21 executions)'] / med['otel-fold (1 execution)']:.2f}x  (target <= 1.2x)"
    )
    print(
        f"otel-fold --version / python -c pass:       {med['otel-fold --version'] / med['python -c pass']:.2f}x  (target <= 5x)"
    )
    read = _regions_bytes(one, exec_id)
    extra = (peaks["otel-fold (1 execution)"] - peaks["the fold's imports"]) * 1024
    print(f"peak memory above the imports-only baseline: {extra / 2**20:.0f} MiB for {read / 2**20:.0f} MiB of "
          f"records read = {extra / read:.2f}x  (target <= 3x)")  # fmt: skip


if __name__ == "__main__":
    main()
