"""otel-fold on faithful upstream traces (the simulator's upstream dialect, docs/upstream.md): fold, report,
pictures, stats and diff work, nested nodes that share a local id stay apart, and nothing is invented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from analyzer.cli import main
from flyte_otel import semconv as sc
from propeller_sim.plan import Plan
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import load_profile

K = sc.NodeKind
# Subworkflows that each hold an n0 and an n1, and dynamics nested two deep (n0/dn0/dn0)
WORKFLOWS = ("parallel_subworkflows", "nested_dynamic", "branch")


def _paths(plan: Plan, prefix: str = "") -> set[str]:
    """Every node's `node` as upstream writes it: spec ids joined by '/' (docs/upstream.md §2)."""
    out: set[str] = set()
    for n in plan.nodes:
        if n.kind == K.BRANCH:  # the taken node runs under the branch, without start and end nodes
            assert n.sub is not None
            taken = Plan(n.sub.name, tuple(x for x in n.sub.nodes if x.kind not in (K.START, K.END)))
            out |= _paths(taken, f"{prefix}{n.id}/")
        elif n.sub is not None and n.kind != K.LAUNCH_PLAN:
            out |= _paths(n.sub, f"{prefix}{n.id}/")
        out.add(prefix + n.id)
    return out


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One upstream-dialect run of each workflow into a store, and its benchmark document."""
    root = tmp_path_factory.mktemp("upstream")
    out = root / "bench.json"
    argv = ["bench", *WORKFLOWS, "-n", "1", "--small", "--profile", "fixed", "--dialect", "upstream"]
    assert main([*argv, "--store", str(root / "store"), "--json", "-o", str(out)]) == 0
    return root, json.loads(out.read_text())


def _execution(bench: tuple[Path, dict[str, Any]], name: str) -> str:
    return str(bench[1][f"flyte.benchmark.{name}"]["execution"])  # one run: the document is that run


def _run(capsys: pytest.CaptureFixture[str], bench: tuple[Path, dict[str, Any]], *argv: str) -> str:
    assert main([*argv, "--store", str(bench[0] / "store")]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", WORKFLOWS)
def test_fold_names_the_node_of_every_event_and_shows_no_phase(
    bench: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text = _run(capsys, bench, _execution(bench, name))
    nodes_of_events = set(re.findall(r"CreateNodeEvent node=(\S+)", text))
    # every node sends a node event, under its own handleNode: the event lines name every node, full path
    assert nodes_of_events == _paths(BY_NAME[name].plan(small=True))
    assert "phase" not in text and "QUEUED" not in text and "KiB" not in text


@pytest.mark.parametrize("name", WORKFLOWS)
def test_report_keeps_nested_nodes_apart_and_marks_what_it_cannot_know(
    bench: tuple[Path, dict[str, Any]], name: str
) -> None:
    body = bench[1][f"flyte.benchmark.{name}"]
    entries = [(k, v) for n in body["nodes"] for k, v in n.items()]
    assert sorted(k for k, _ in entries) == sorted(_paths(BY_NAME[name].plan(small=True)))  # none merged
    assert all(
        set(v) <= {"seen", "pod"} and v["seen"] > 0 for _, v in entries
    )  # no kind, no segments invented
    # a task's pod wrote its own spans (fixed profile): the container's run split at the user's function
    ms = {op: int(d.a) for op, d in load_profile("fixed").operations.items()}
    pods = [v["pod"] for _, v in entries if "pod" in v]
    assert pods and all(p["attempts"] >= 1 for p in pods)
    for p in pods:
        n = p["attempts"]
        assert p["TASK_RUNTIME"] in (n * ms["task.run"], n * ms["dynamic.compile"])
        assert p["TASK_PREPARE"] == n * (ms["pod.load"] + ms["pod.download"] + ms["pod.convert"])
        assert p["TASK_FINALIZE"] == n * (ms["pod.convert"] + ms["pod.upload"])
    assert set(body["absent"]) == {"segments", "etcdBytes"}
    assert "flyteOverhead" not in body and "segments" not in body


@pytest.mark.parametrize("picture", ["timeline.svg", "timeline.html", "waterfall.svg"])
def test_pictures_draw_every_nested_node(
    bench: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str], picture: str
) -> None:
    out = bench[0] / picture
    flag = "--" + picture.split(".")[0]
    _run(capsys, bench, _execution(bench, "nested_dynamic"), flag, str(out))
    drawn = out.read_text()
    missing = [p for p in _paths(BY_NAME["nested_dynamic"].plan(small=True)) if p not in drawn]
    assert not missing if picture.startswith("timeline") else drawn.count("<rect") > 0


def test_stats_and_diff_run_on_upstream_traces(
    bench: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    stats = _run(capsys, bench, _execution(bench, "branch"), "--stats", "name")
    assert sc.CREATE_NODE_EVENT in stats and sc.WORKFLOW_STORE_UPDATE in stats
    doc = bench[0] / "bench.json"
    assert main(["diff", str(doc), str(doc)]) == 0
    assert "flyte.benchmark.branch" in capsys.readouterr().out
