"""`otel-fold bench` and `otel-fold demo`, run in process on the simulator."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from analyzer.cli import bench, main
from analyzer.reduce.diff import POOLED_KEY
from analyzer.units import format_duration, parse_duration
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import load_profile

_PROFILES = resources.files("propeller_sim") / "profiles"


# otel-fold in a fresh interpreter where `import flytekit` fails, as where the portfolio extra is absent.
_WITHOUT_FLYTEKIT = (
    "import sys; sys.modules['flytekit'] = None; from analyzer.cli import main; sys.exit(main(sys.argv[1:]))"
)


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
    assert "\r" not in capsys.readouterr().err  # stderr is not a terminal: no progress bar drawn into it


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "analyzer", "bench", "tiny_chain", "-n", "2", "--small", "--profile", "fixed",
            "--store", str(tmp_path / "store"), "-o", str(tmp_path / "b.yaml")]  # fmt: skip
    leader, follower = pty.openpty()
    # a new pty is 0 columns wide, and tqdm draws nothing in no width: give it a terminal's size
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    drawn = bytearray()

    def drain() -> None:  # a pty holds a few KB: read as the bar is drawn, or the bench blocks writing it
        with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
            while chunk := os.read(leader, 4096):
                drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        subprocess.run(argv, stderr=follower, stdout=subprocess.DEVNULL, check=True, timeout=120)
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)
    assert b"bench" in drawn and b"\r" in drawn


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
    assert "lifecycle records" in body["absent"]["segments"]
    assert body["propeller"]["rounds"]["count"] > 0


def test_bench_rejects_an_unknown_workflow_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "no_such_flow", "--store", str(tmp_path)]) == 2
    assert "no_such_flow" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text", ["operations: 3\n", "operations: {a: [\n", None], ids=["malformed", "not-yaml", "absent"]
)
def test_bench_rejects_a_bad_profile_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None
) -> None:
    bad = tmp_path / "p.yaml"
    if text is not None:
        bad.write_text(text)
    assert main(["bench", "tiny_chain", "--profile", str(bad), "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("otel-fold: ") and str(bad) in err and err.count("\n") == 1


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
    # the two workflows, and their etcd writes pooled
    assert len(verdicts) == 3 and all("regressed" in v for v in verdicts)
    assert "# values tested: " in out and ", flagged: " in out


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
    pooled = parsed.pop(POOLED_KEY)  # the two workflows' etcd writes together, read from their sketches
    assert list(parsed) == ["flyte.benchmark.tiny_chain", "flyte.benchmark.branch"]
    for body in parsed.values():
        assert body["etcd"]["writes"]["latency"]["p50"] == "+" + format_duration(int(delta))
        assert body["etcd"]["writes"]["count"] == 0  # the same workflow on both sides: as many writes
    # a sketch's percentile is within its accuracy (1%) of each duration: 8 ms and 20 ms, each within 1%
    assert parse_duration(pooled["etcd"]["writes"]["latency"]["p50"]) == pytest.approx(delta, abs=0.01 * 28e6)
    assert "# added" not in out and "# removed" not in out


@pytest.mark.parametrize(
    "argv", [["bench", "tiny_chain"], ["demo", "--workflows", "tiny_chain"]], ids=["bench", "demo"]
)
def test_without_flytekit_bench_and_demo_say_how_to_install_it_in_one_line(
    tmp_path: Path, argv: list[str]
) -> None:
    store = ["--store", str(tmp_path / "store")] if argv[0] == "bench" else ["--out", str(tmp_path / "demo")]
    done = subprocess.run([sys.executable, "-c", _WITHOUT_FLYTEKIT, *argv, *store],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr
        == "otel-fold: the portfolio workflows need flytekit: pip install 'flyte-otel[portfolio]'\n"
    )
    assert done.stdout == ""


def test_remote_registers_the_workflow_module_from_where_propeller_sim_is_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flytekit.configuration import Config
    from flytekit.tools.script_mode import list_imported_modules_as_files

    registered: list[dict[str, Any]] = []

    class _Remote:  # FlyteRemote's calls that bench makes, answered without a cluster
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def register_script(self, entity: object, **kwargs: Any) -> object:
            registered.append(kwargs)
            return entity

        def execute(self, entity: object, **kwargs: object) -> SimpleNamespace:
            return SimpleNamespace(id=SimpleNamespace(name="f-remote"))

    monkeypatch.setattr("flytekit.remote.FlyteRemote", _Remote)
    monkeypatch.setattr(Config, "auto", staticmethod(lambda config_file=None: None))
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    cluster = bench._Cluster(parser.parse_args(["tiny_chain", "--remote", "config.yaml"]))
    assert cluster.run(BY_NAME["tiny_chain"]) == "f-remote"
    (call,) = registered
    module = importlib.import_module(call["module_name"])
    # flytekit's script mode uploads the loaded modules under source_path, at their path relative to it,
    # and the task pod imports module_name from there.
    assert list_imported_modules_as_files(call["source_path"], [module]) == [module.__file__]
    relative = Path(str(module.__file__)).relative_to(call["source_path"])
    assert relative == Path(*call["module_name"].split(".")).with_suffix(".py")
