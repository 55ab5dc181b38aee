"""A faithful upstream execution (the simulator's upstream dialect) merged with FlyteAdmin's answers: nested
subworkflows that share local ids and a retried nested node get the overhead split per node, by path.

FlyteAdmin's answers are built from the same execution run again in the flyte_otel dialect (same seed and
clock: the same behaviour, tests/propeller_sim/test_upstream_conformance.py), whose lifecycle records give every
node's known timings; FlyteAdmin's unique ids are made the way propeller makes them (`n1-0-n0`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from source_loopback import FakeAdmin, Loopback

import flyte_otel as fo
from analyzer.cli import main
from analyzer.execution import select_execution
from analyzer.load import load
from analyzer.reduce import segments as S
from analyzer.results import timeline as TL
from analyzer.source.config import rfc3339
from flyte_otel import semconv as sc
from flyte_otel.otlp_encode import encode_json
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator, configure
from propeller_sim.plan import PlanNode, with_start_end
from propeller_sim.profile import load_profile

K = sc.NodeKind
EXEC = {"project": "flytesnacks", "domain": "development", "name": "fadminmerge1"}
_SUB = with_start_end(
    "sub",
    [
        PlanNode("n0", K.TASK, retries=1, tasktype="python-task"),
        PlanNode("n1", K.TASK, ("n0",), tasktype="python-task"),
    ],
)
PLAN = with_start_end(
    "wf",
    [
        PlanNode("n0", K.TASK, tasktype="python-task"),
        PlanNode("n1", K.SUBWORKFLOW, ("n0",), sub=_SUB),
        PlanNode("n2", K.SUBWORKFLOW, ("n0",), sub=_SUB),
    ],
)
FAILURES = {"n1/n0": 1}  # subworkflow n1's n0 fails once; n2's n0 does not
# what FlyteAdmin knows of a task: the container's run (the pod-side split is the pod spans', not its)
_TASK_SEGMENTS = {
    TL.TASK_SETUP,
    TL.TASK_PREPARE,
    TL.TASK_RUNTIME,
    TL.TASK_FINALIZE,
    TL.TASK_TEARDOWN,
    TL.RETRIED,
    TL.SUBNODES,
}


def _spans(dialect: str) -> bytes:
    exporter = InMemorySpanExporter()
    configure(dialect, exporter=exporter, batch=False)
    try:
        sim = Simulator(
            load_profile("default"), seed=5, clock=VirtualClock(1_700_000_000_000_000_000), dialect=dialect
        )
        sim.run(PLAN, failures=FAILURES, exec_id=EXEC["name"])
        return json.dumps(encode_json(exporter.get_finished_spans())).encode()
    finally:
        fo.shutdown()


def _span(start: int, end: int, field: str, value: Any, children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"start_time": rfc3339(start), "end_time": rfc3339(end), field: value, "spans": children}


def _admin_tree(tl: TL.ExecutionTimeline) -> dict[str, Any]:
    """The core.Span tree FlyteAdmin would answer for this timeline, its nodes named by unique id."""

    def uid(path: str) -> str:
        parent, _, local = path.rpartition("/")
        return f"{uid(parent)}-0-{local}" if parent else local

    def op(s: TL.Section) -> dict[str, Any]:
        return _span(s.start, s.end, "operation_id", s.segment, [])

    def node(n: TL.NodeTimeline) -> dict[str, Any]:
        ne_id = {"node_id": uid(n.node_id), "execution_id": EXEC}
        kids = [op(s) for s in n.waiting] + [op(s) for s in n.sections if s.segment not in _TASK_SEGMENTS]
        for a in (a for a in n.attempts if a.index is None):
            assert a.user_start is not None and a.user_end is not None
            parts = [(TL.TASK_SETUP, a.start, a.user_start), (TL.TASK_RUNTIME, a.user_start, a.user_end),
                     (TL.TASK_TEARDOWN, a.user_end, a.end)]  # fmt: skip
            task_id = {"node_execution_id": ne_id, "retry_attempt": a.number}
            kids.append(
                _span(a.start, a.end, "task_id", task_id, [op(TL.Section(*p)) for p in parts if p[2] > p[1]])
            )
        kids += [node(tl.nodes[c]) for c in n.children]
        return _span(n.queued, n.end, "node_id", ne_id, kids)

    tops = [node(n) for n in tl.nodes.values() if n.parent is None]
    return _span(tl.start, tl.end, "workflow_id", EXEC, [op(s) for s in tl.sections] + tops)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TL.ExecutionTimeline]]:
    """The upstream trace as a file, and the lifecycle timeline of the same execution."""
    root = tmp_path_factory.mktemp("admin-upstream")
    (root / "upstream.json").write_bytes(_spans("upstream"))
    lifecycle = S.node_timelines(select_execution(load(_spans("flyte_otel")), EXEC["name"]))
    assert lifecycle.lifecycle
    yield root / "upstream.json", lifecycle


def _report(
    runs: tuple[Path, TL.ExecutionTimeline], server: Loopback, capsys: pytest.CaptureFixture[str]
) -> dict:
    FakeAdmin(EXEC, _admin_tree(runs[1])).install(server)
    argv = ["report", EXEC["name"], "--json", "--file", str(runs[0]), "--admin-url", server.url,
            "--project", EXEC["project"], "--domain", EXEC["domain"], "--retries", "0"]  # fmt: skip
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)[EXEC["name"]]


def test_every_node_gets_its_own_segments_by_path_and_they_add_up(
    runs: tuple[Path, TL.ExecutionTimeline], server: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _report(runs, server, capsys)
    lifecycle = runs[1]
    nodes = {k: v for n in body["nodes"] for k, v in n.items()}
    assert set(nodes) == set(lifecycle.nodes)  # n1/n0 and n2/n0 apart, nothing merged, nothing missing
    assert "absent" not in body or "segments" not in body["absent"]
    for path, n in nodes.items():
        own = {k: v for k, v in n["segments"].items() if k != TL.NODE_TRANSITION}  # ready -> queued is before
        assert sum(own.values()) == n["duration"] == lifecycle.nodes[path].duration, path
    # FlyteAdmin's TASK_RUNTIME (the container's run) is split where each pod's own spans put the user's function:
    # the retried nested node's two attempts each, the others as propeller's records split them
    retried = lifecycle.nodes["n1/n0"]
    assert nodes["n1/n0"]["attempts"] == 2 and nodes["n2/n0"]["attempts"] == 1
    code = [(a.code_start, a.code_end) for a in retried.attempts]
    assert all(c0 is not None and c1 is not None for c0, c1 in code)
    assert nodes["n1/n0"]["segments"][TL.TASK_RUNTIME] == sum(c1 - c0 for c0, c1 in code)  # type: ignore[operator]
    for path in ("n0", "n2/n0", "n1/n1", "n2/n1"):
        for seg in (TL.TASK_PREPARE, TL.TASK_RUNTIME, TL.TASK_FINALIZE):
            assert nodes[path]["segments"][seg] == lifecycle.nodes[path].totals()[seg], (path, seg)
    assert (
        nodes["n1/n0"]["duration"] != nodes["n2/n0"]["duration"]
    )  # told apart, not one copied onto the other
