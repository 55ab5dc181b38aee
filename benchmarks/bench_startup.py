"""Start-up: `otel-fold --version`, `--help` and every subcommand's `--help` against a bare `python -c pass`.

Each run is a whole process of this interpreter (sys.executable, so the same venv and site start-up); the CLI
runs as `python -m analyzer`, which is what the `otel-fold` script runs. The variants are interleaved run by run,
so that the machine's drift hits them alike; the first round warms the file cache and is not counted.

Prints the median wall time of each and its ratio to `python -c pass` (target: <= 5x for --version and every
--help, issue 18), and the same for the process's CPU time (user + system), which a busy machine disturbs less.

    .venv/bin/python benchmarks/bench_startup.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from analyzer.cli import COMMANDS

TARGET = 5.0  # the largest ratio to `python -c pass` allowed for --version and --help


def _variants() -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "analyzer"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import analyzer'": [sys.executable, "-c", "import analyzer"],
        "otel-fold --version": [*cli, "--version"],
        "otel-fold --help": [*cli, "--help"],
        **{f"otel-fold {name} --help": [*cli, name, "--help"] for name in COMMANDS},
    }


def _run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _measure(variants: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for i in range(runs + 1):  # the first round warms the file cache and is not counted
        for name, argv in variants.items():
            wall_cpu = _run(argv)
            if i:
                times[name].append(wall_cpu)
    return times


def main() -> int:
    """Run every variant interleaved; print medians and ratios; exit 1 when a CLI variant misses the target."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 runs of each instead of 30")
    runs = 5 if ap.parse_args().quick else 30
    times = _measure(_variants(), runs)
    medians = {name: [statistics.median(t[k] for t in ts) for k in (0, 1)] for name, ts in times.items()}
    wall0, cpu0 = medians["python -c pass"]
    print(f"whole processes, median of {runs} interleaved runs each ({sys.executable}):")
    print(f"  {'':34s} {'wall':>9s} {'ratio':>7s} {'cpu':>9s} {'ratio':>7s}")
    missed = []
    for name, (wall, cpu) in medians.items():
        print(
            f"  {name:34s} {wall * 1000:6.1f} ms {wall / wall0:6.2f}x {cpu * 1000:6.1f} ms {cpu / cpu0:6.2f}x"
        )
        if name.startswith("otel-fold") and wall / wall0 > TARGET:
            missed.append(name)
    print(
        f"target: otel-fold --version and every --help <= {TARGET:g}x (wall); missed: {', '.join(missed) or 'none'}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
