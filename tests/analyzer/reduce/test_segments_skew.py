"""Skewed lifecycle records: whatever the clocks say, a node's sections tile queued -> end exactly, with a warning.

Each scenario records timestamps that a skewed pod or propeller clock can produce (a boundary before the
node is queued, after it ended, or before the previous boundary) and returns the constructed (queued, end)
of the nodes it bends: the ground truth of their durations, known before the analyzer runs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from analyzer.reduce import segments as S
from flyte_otel.semconv import IdleReason, NodeKind, Phase
from tests import builders as B
from tests.builders import MS, Task

Truth = dict[str, tuple[int, int]]  # node id -> (queued, end) as recorded
Scenario = Callable[[B.Builder, int], Truth]  # records nodes into the builder's execution, n0 queued at q
# An attempt as (start, end, user code (start, end) or None), in ms after the node is queued.
Attempt = tuple[int, int, tuple[int, int] | None]


def _task(*attempts: Attempt, end: int) -> Scenario:
    """A task node queued at q and ending at q + `end` ms, with these attempts (all but the last failed)."""

    def record(b: B.Builder, q: int) -> Truth:
        n = b.ex.node("n0", kind=NodeKind.TASK, upstream=("start-node",), start=q)
        for number, (start, stop, user) in enumerate(attempts):
            a = n.attempt(number, start=q + start * MS)
            if user is not None:
                a.user_code(start=q + user[0] * MS, end=q + user[1] * MS)
            last = number == len(attempts) - 1
            a.end(Phase.SUCCEEDED if last else Phase.RETRYABLE_FAILURE, at=q + stop * MS)
        n.end(Phase.SUCCEEDED, at=q + end * MS)
        return {"n0": (q, q + end * MS)}

    return record


def _gate_wait_ends_after_its_node(b: B.Builder, q: int) -> Truth:
    n = b.ex.node("n0", kind=NodeKind.GATE, upstream=("start-node",), start=q)
    n.idle(IdleReason.GATE, start=q + 2 * MS, end=q + 15 * MS)
    n.end(Phase.SUCCEEDED, at=q + 10 * MS)
    return {"n0": (q, q + 10 * MS)}


def _child_ends_after_its_dynamic_parent(b: B.Builder, q: int) -> Truth:
    n = b.ex.node("n0", kind=NodeKind.DYNAMIC, upstream=("start-node",), start=q)
    a = n.attempt(0, start=q + 1 * MS)
    a.end(Phase.SUCCEEDED, at=q + 3 * MS)
    c = b.ex.node("n0/c0", kind=NodeKind.TASK, parent=n, start=q + 4 * MS)
    c.end(Phase.SUCCEEDED, at=q + 20 * MS)
    n.end(Phase.SUCCEEDED, at=q + 12 * MS)
    return {"n0": (q, q + 12 * MS)}


def _array_subtasks_outside_their_node(b: B.Builder, q: int) -> Truth:
    n = b.ex.node("n0", kind=NodeKind.ARRAY, upstream=("start-node",), start=q, array_size=2)
    for index, (start, end) in enumerate(((-1, 5), (2, 15))):  # ms after queued
        a = n.attempt(0, start=q + start * MS, array_index=index)
        a.end(Phase.SUCCEEDED, at=q + end * MS)
    n.end(Phase.SUCCEEDED, at=q + 10 * MS)
    return {"n0": (q, q + 10 * MS)}


def _child_execution_ends_after_its_launch_plan(b: B.Builder, q: int) -> Truth:
    n = b.ex.node(
        "n0", kind=NodeKind.LAUNCH_PLAN, upstream=("start-node",), start=q, child_exec_id="ex-child"
    )
    child = B.Builder(b.rec, "ex-child", setup=1 * MS, start=q + 2 * MS)
    child.task("n0", Task(transition=1 * MS, node_setup=1 * MS, runtime=10 * MS))
    child_end = child.finish(teardown=1 * MS)  # q + 16ms
    n.end(Phase.SUCCEEDED, at=q + 10 * MS)
    assert child_end > q + 10 * MS
    return {"n0": (q, q + 10 * MS)}


SCENARIOS: dict[str, Scenario] = {
    "attempt_ends_after_its_node": _task((1, 14, (3, 12)), end=10),
    "user_code_outside_its_attempt": _task((2, 8, (1, 9)), end=10),
    "attempt_starts_before_its_node_is_queued": _task((-3, 6, (-2, 4)), end=8),
    "retry_starts_before_the_failed_attempt_ends": _task((1, 6, None), (4, 9, (5, 8)), end=10),
    "gate_wait_ends_after_its_node": _gate_wait_ends_after_its_node,
    "child_ends_after_its_dynamic_parent": _child_ends_after_its_dynamic_parent,
    "array_subtasks_outside_their_node": _array_subtasks_outside_their_node,
    "child_execution_ends_after_its_launch_plan": _child_execution_ends_after_its_launch_plan,
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_skewed_boundaries_are_clamped_so_sections_tile_each_node_exactly_and_a_warning_names_it(
    scenario: Scenario,
) -> None:
    with B.recording() as rec:
        b = B.Builder(rec, "ex-skew", setup=1 * MS)
        q = b.end["start-node"] + 1 * MS
        truth = scenario(b, q)
        b.end.update({nid: end for nid, (_, end) in truth.items()})
        b.finish(teardown=1 * MS, upstream=("n0",))
        tl = S.node_timelines(rec.table())  # a launch plan's child execution is found in it too
    assert {nid: (tl.nodes[nid].queued, tl.nodes[nid].end) for nid in truth} == truth
    for n in tl.nodes.values():
        assert sum(s.duration for s in n.sections) == n.end - n.queued, (n.node_id, n.sections)
        at = n.queued
        for s in n.sections:
            assert s.duration >= 0 and n.queued <= s.start and s.end <= n.end, (n.node_id, s)
            assert s.start == at, (n.node_id, n.sections)  # in order, no gap, no overlap
            at = s.end
    for nid in truth:
        assert any(f"node {nid}" in w for w in tl.warnings), (nid, tl.warnings)
