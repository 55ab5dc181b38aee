"""Fixtures of the command-line tests: benchmark files written by `otel-fold bench` on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.cli import main

# (file name, bench arguments): between them every shape a report has: several runs, an array node's fan-out,
# a launch plan's child execution and its nested nodes; and (upstream dialect) seen-only nodes, the `absent`
# block and warnings.
BENCH_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("runs.yaml", ("big_map", "-n", "2")),
    ("children.yaml", ("launch_plans", "-n", "1")),
    ("upstream.yaml", ("tiny_chain", "-n", "1", "--dialect", "upstream")),
)


@pytest.fixture(scope="session")
def bench_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real benchmark files by name, written once per session (YAML, as `otel-fold bench -o` writes them)."""
    out = tmp_path_factory.mktemp("bench-reports")
    files = {}
    for name, argv in BENCH_FILES:
        path = out / name
        rc = main(["bench", *argv, "--small", "--seed", "3", "--store", str(out / "store"), "-o", str(path)])
        assert rc == 0, f"bench {argv} failed"
        files[name] = path
    return files
