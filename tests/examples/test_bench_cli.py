"""`otel-fold bench` and `otel-fold demo`, run in process on the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analyzer.cli import main
from analyzer.units import format_duration
from examples.portfolio import BY_NAME
from examples.simulator.profile import load_profile

_PROFILES = Path(__file__).resolve().parents[2] / "examples" / "profiles"


def _bench(tmp_path: Path, *argv: str) -> dict:
    out = tmp_path / "bench.json"
    rc = main(["bench", *argv, "--store", str(tmp_path / "store"), "--json", "-o", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_bench_writes_one_entry_per_workflow_with_every_run_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _bench(tmp_path, "tiny_chain", "branch", "-n", "3", "--profile", "fixed", "--small")
    assert list(doc) == ["flyte.benchmark.tiny_chain", "flyte.benchmark.branch"]
    for body in doc.values():
        assert len(body["runs"]) == 3
        assert len({r["execution"] for r in body["runs"]}) == 3
    assert "bench" in capsys.readouterr().err  # the progress bar


def test_bench_numbers_on_the_fixed_profile_are_the_profile_latencies(tmp_path: Path) -> None:
    fixed = load_profile("fixed")
    doc = _bench(tmp_path, "tiny_chain", "-n", "2", "--profile", "fixed")
    body = doc["flyte.benchmark.tiny_chain"]
    assert body["etcd"]["writes"]["latency"]["p50"] == int(fixed.operations["etcd.write"].a)
    assert body["events"]["node"]["latency"]["p99"] == int(fixed.operations["event.node"].a)
    tasks = [n for n in body["nodes"] for b in n.values() if b["kind"] == "task"]
    assert len(tasks) == BY_NAME["tiny_chain"].module.LENGTH


def test_bench_upstream_dialect_reports_without_lifecycle(tmp_path: Path) -> None:
    doc = _bench(tmp_path, "tiny_chain", "-n", "1", "--profile", "fixed", "--dialect", "upstream")
    body = doc["flyte.benchmark.tiny_chain"]
    assert "absent" in body["lifecycle"]
    assert body["propeller"]["rounds"]["count"] > 0


def test_bench_rejects_an_unknown_workflow_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "no_such_flow", "--store", str(tmp_path)]) == 2
    assert "no_such_flow" in capsys.readouterr().err


def test_bench_rejects_a_bad_profile_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("operations: 3\n")
    assert main(["bench", "tiny_chain", "--profile", str(bad), "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


@pytest.mark.slow
def test_demo_folds_a_run_and_detects_the_slower_etcd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["demo", "--out", str(tmp_path), "-n", "4", "--workflows", "tiny_parallel"])
    out = capsys.readouterr().out
    assert rc == 0
    assert (tmp_path / "benchmark-base.yaml").exists() and (tmp_path / "benchmark-slow-etcd.yaml").exists()
    assert "Handle" in out  # the fold shows propeller rounds
    verdicts = [line for line in out.splitlines() if line.startswith("   flyte.benchmark.")]
    assert len(verdicts) == 2 and all("regressed" in v for v in verdicts)


def test_diff_of_two_bench_files_compares_each_workflow_with_its_namesake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = load_profile("fixed")
    slow_doc = yaml.safe_load((_PROFILES / "fixed.yaml").read_text())
    slow_doc["name"] = "fixed-slow-etcd"
    slow_doc["operations"]["etcd.write"]["value"] = "20ms"
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(slow_doc))
    delta = load_profile(slow).operations["etcd.write"].a - fixed.operations["etcd.write"].a
    store = str(tmp_path / "store")
    base, new = tmp_path / "base.yaml", tmp_path / "new.yaml"
    common = ["-n", "2", "--small", "--store", store]
    assert main(["bench", "tiny_chain", "branch", "--profile", "fixed", *common, "-o", str(base)]) == 0
    # The other order: entries are matched by name, not by position.
    assert main(["bench", "branch", "tiny_chain", "--profile", str(slow), *common, "-o", str(new)]) == 0
    capsys.readouterr()
    assert main(["diff", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    parsed = yaml.safe_load(out)
    assert list(parsed) == ["flyte.benchmark.tiny_chain", "flyte.benchmark.branch"]
    for body in parsed.values():
        assert body["etcd"]["writes"]["latency"]["p50"] == "+" + format_duration(int(delta))
        assert body["etcd"]["writes"]["count"] == 0  # the same workflow on both sides: as many writes
    assert "# added" not in out and "# removed" not in out
