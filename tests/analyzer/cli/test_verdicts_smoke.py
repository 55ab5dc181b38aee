"""benchmarks/bench_verdicts.py's targets in small (two seed pairs, two workflows, 6 runs a side): identical
profiles flag nothing, the demo's 2x slower etcd is flagged in every workflow, through the files and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.cli import main

WORKFLOWS = ("tiny_chain", "chained_cache")
SUMMARY = re.compile(r"^# values tested: (\d+), flagged: (\d+), too few runs: (\d+)$", re.M)


def _bench(tmp: Path, profile: str, seed: int) -> Path:
    path = tmp / f"{profile}-{seed}.yaml"
    argv = ["bench", *WORKFLOWS, "--small", "-n", "6", "--seed", str(seed), "--profile", profile]
    assert main([*argv, "--store", str(tmp / "store"), "-o", str(path)]) == 0
    return path


def _diff(base: Path, new: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, tuple[int, ...]]:
    assert main(["diff", str(base), str(new), "--only-changes"]) == 0
    out = capsys.readouterr().out
    (counts,) = SUMMARY.findall(out)
    return out, tuple(map(int, counts))


@pytest.mark.slow
@pytest.mark.parametrize("pair", [0, 1])
def test_identical_profiles_flag_nothing_and_a_2x_slower_etcd_is_flagged_in_every_workflow(
    pair: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _bench(tmp_path, "default", 1000 + pair)
    same, (tested, flagged, _) = _diff(base, _bench(tmp_path, "default", 2000 + pair), capsys)
    assert tested > 100 and flagged == 0, same
    slow, (_, flagged, _) = _diff(base, _bench(tmp_path, "slow-etcd", 3000 + pair), capsys)
    assert "Benjamini-Yekutieli" in slow
    for workflow in WORKFLOWS:
        entry = slow.split(f"flyte.benchmark.{workflow}:\n", 1)[1].split("\n# base:", 1)[0]
        etcd = entry.split("  etcd:\n", 1)[1]
        assert re.search(r"\n {6}latency:\n {8}p50: \+[0-9.]+ms  # regressed", etcd), entry
    assert flagged >= len(WORKFLOWS)
