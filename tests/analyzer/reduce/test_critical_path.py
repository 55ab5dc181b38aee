"""Critical paths over spans (CRISP) and over the workflow DAG, on executions with known timings."""

from __future__ import annotations

import pytest

import flyte_otel as fo
from analyzer import table as T
from analyzer.errors import NotFound
from analyzer.execution import stitch
from analyzer.reduce import segments as S
from analyzer.reduce.critical_path import SpanSection, span_critical_path, workflow_critical_path
from analyzer.results import timeline as TL
from analyzer.table import SpanTable
from flyte_otel import semconv as sc
from tests import builders as B
from tests.builders import MS, US, Task

A = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, task_teardown=1 * MS,
         node_teardown=2 * MS)  # fmt: skip
LONG = Task(1 * MS, 2 * MS, 3 * MS, 50 * MS, 1 * MS, 2 * MS)
SHORT = Task(4 * MS, 5 * MS, 3 * MS, 20 * MS, 1 * MS, 6 * MS)


def _flyte(t: Task) -> int:
    return t.transition + t.node_setup + t.node_teardown


def _assert_tiles(path: list[TL.Section], start: int, end: int) -> None:
    at = start
    for s in path:
        assert s.start == at and s.end > s.start, path
        at = s.end
    assert at == end


def _flyte_on_path(path: list[TL.Section]) -> int:
    return sum(v for k, v in TL.totals(path).items() if k in TL.OVERHEAD_CATEGORIES)


def test_diamond_critical_path_takes_the_branch_that_finished_last_and_differs_from_aggregate():
    with B.recording() as rec:
        B.diamond(rec, A, LONG, SHORT, A, setup=5 * MS, teardown=4 * MS)
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    _assert_tiles(path, tl.start, tl.end)
    assert [n for n in dict.fromkeys(s.node for s in path) if n] == ["n0", "n1", "n3"]
    assert _flyte_on_path(path) == 5 * MS + 4 * MS + 2 * _flyte(A) + _flyte(LONG)
    assert S.aggregate_overhead(tl) == 5 * MS + 4 * MS + 2 * _flyte(A) + _flyte(LONG) + _flyte(SHORT)
    assert TL.totals(path)[TL.USER] == 2 * A.runtime + LONG.runtime


def test_diamond_path_follows_the_other_branch_when_it_finishes_later():
    slow_short = Task(4 * MS, 5 * MS, 3 * MS, 80 * MS, 1 * MS, 6 * MS)
    with B.recording() as rec:
        B.diamond(rec, A, LONG, slow_short, A, setup=5 * MS, teardown=4 * MS)
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    assert "n2" in {s.node for s in path} and "n1" not in {s.node for s in path}
    assert _flyte_on_path(path) == 5 * MS + 4 * MS + 2 * _flyte(A) + _flyte(slow_short)


def test_retry_on_the_path_charges_reset_to_flyte_and_failed_attempt_to_retried():
    t = Task(1 * MS, 2 * MS, 3 * MS, 10 * MS, 1 * MS, 2 * MS, retries=((7 * MS, 500 * US),))
    with B.recording() as rec:
        B.retry(rec, t, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    _assert_tiles(path, tl.start, tl.end)
    cats = TL.totals(path)
    assert cats[TL.RETRIED_CATEGORY] == 7 * MS
    assert cats[TL.FLYTE] + cats[TL.SCHEDULING] == 1 * MS + 1 * MS + _flyte(t) + 500 * US


def test_dynamic_path_recurses_into_its_children():
    own = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=4 * MS, task_teardown=1 * MS)
    kids = [
        Task(2 * MS, 1 * MS, 1 * MS, 20 * MS, 1 * MS, 1 * MS),
        Task(3 * MS, 1 * MS, 1 * MS, 30 * MS, 1 * MS, 1 * MS),
    ]
    with B.recording() as rec:
        B.dynamic(rec, own, kids, node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    _assert_tiles(path, tl.start, tl.end)
    assert TL.SUBNODES not in {s.segment for s in path}
    assert TL.totals(path)[TL.USER] == own.runtime + 20 * MS + 30 * MS
    assert _flyte_on_path(path) == 2 * MS + _flyte(own) + 5 * MS + sum(_flyte(k) for k in kids)


def test_launch_plan_path_recurses_into_the_child_execution():
    inner = Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS)
    with B.recording() as rec:
        B.launch_plan(rec, inner, transition=2 * MS, launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS,
                      node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)  # fmt: skip
        tl = S.node_timelines(rec.table("ex-parent"), {"ex-child": rec.table("ex-child")})
    path = workflow_critical_path(tl)
    _assert_tiles(path, tl.start, tl.end)
    assert [s.segment for s in path].count(TL.WORKFLOW_SETUP) == 2  # the parent's and the child's
    assert _flyte_on_path(path) == 2 * MS + 2 * MS + 7 * MS + 5 * MS + 3 * MS + 4 * MS + _flyte(inner)
    assert S.aggregate_overhead(tl) == _flyte_on_path(path)


def test_array_path_runs_through_the_subtask_that_finished_last():
    subs = [Task(task_setup=1 * MS, runtime=50 * MS, task_teardown=2 * MS) for _ in range(1000)]
    subs[3] = Task(task_setup=1 * MS, runtime=90 * MS, task_teardown=2 * MS)
    with B.recording() as rec:
        B.array(rec, subs, transition=1 * MS, node_setup=4 * MS, stagger=10 * US, node_teardown=6 * MS,
                setup=1 * MS, teardown=1 * MS)  # fmt: skip
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    _assert_tiles(path, tl.start, tl.end)
    assert {s.node for s in path if s.segment == TL.TASK_RUNTIME} == {"n0[3]"}
    # Waiting for sub-task 3 to be created (3 x 10us after the first) is flyte time on the path.
    assert _flyte_on_path(path) == 1 * MS + 1 * MS + 1 * MS + 4 * MS + 30 * US + 6 * MS


def test_gate_wait_on_the_path_is_held_not_overhead():
    with B.recording() as rec:
        b = B.Builder(rec, "ex-gate", setup=1 * MS)
        b.gate("n0", transition=2 * MS, setup=3 * MS, wait=5_000 * MS, teardown=4 * MS)
        b.finish(teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    path = workflow_critical_path(tl)
    assert TL.totals(path)[TL.HELD] == 5_000 * MS
    assert _flyte_on_path(path) == 1 * MS + 2 * MS + 3 * MS + 4 * MS + 1 * MS


def test_span_path_leaves_out_a_sibling_still_running_clamps_children_and_tiles_the_root():
    t0 = B.T0
    with B.recording(one_trace=False) as rec:
        with fo.round("ex", start=t0, end=t0 + 100 * MS):
            with fo.streak("ex", start=t0 + 10 * MS, end=t0 + 40 * MS):
                pass
            with (
                fo.streak("ex", start=t0 + 30 * MS, end=t0 + 90 * MS),
                fo.blob_read("k", start=t0 + 50 * MS, end=t0 + 60 * MS),
            ):
                pass
            with fo.workflow_store_update("ex", start=t0 + 95 * MS, end=t0 + 120 * MS):
                pass  # runs past its parent: clamped to the parent's end
            with fo.workflow_store_get("ex", start=t0 + 110 * MS, end=t0 + 130 * MS):
                pass  # wholly after its parent: not on the path
        table = rec.table()
    names = dict(zip(table.df[T.SPAN_ID], table.df[T.NAME].astype(str), strict=True))
    path = span_critical_path(stitch(table))
    got = [(names[s.span_id], (s.start - t0) // MS, (s.end - t0) // MS) for s in path]
    # the first streak is still running (until 40) when the second, on the path, starts (30): shortening it
    # could not shorten the round, so the round's own time runs back to 0 (Jaeger UI and CRISP agree)
    assert got == [
        (sc.ROUND, 0, 30),
        (sc.STREAK, 30, 50),
        (sc.READ_PROTOBUF, 50, 60),
        (sc.STREAK, 60, 90),
        (sc.ROUND, 90, 95),
        (sc.WORKFLOW_STORE_UPDATE, 95, 100),
    ]


def test_span_path_skips_follows_from_children():
    table = SpanTable.from_columns(
        {
            T.TRACE_ID: ["a" * 32] * 3,
            T.SPAN_ID: ["1" * 16, "2" * 16, "3" * 16],
            T.PARENT_ID: ["", "1" * 16, "1" * 16],
            T.NAME: ["root", "blocking", "async"],
            T.START: [0, 10, 50],
            T.END: [100, 40, 100],
            T.REF_TYPE: ["child_of", "child_of", "follows_from"],
        }
    )
    path = span_critical_path(stitch(table))
    assert [(s.span_id[0], s.start, s.end) for s in path] == [("1", 0, 10), ("2", 10, 40), ("1", 40, 100)]
    assert sum(s.end - s.start for s in path) == 100
    assert all(isinstance(s, SpanSection) for s in path)


def test_span_path_of_an_unknown_root_is_not_found():
    table = SpanTable.from_columns({T.SPAN_ID: ["1" * 16], T.START: [0], T.END: [1]})
    with pytest.raises(NotFound, match="no span"):
        span_critical_path(stitch(table), "f" * 16)


def test_span_path_of_children_starting_before_their_parent_stays_inside_the_root_and_tiles_it():
    # Clocks of different processes disagree: a child and its own child start before the root does, and
    # another child lies wholly before it.
    ids = ["1" * 16, "2" * 16, "3" * 16, "4" * 16, "5" * 16]
    names = ["root", "early", "earlier", "late", "stale"]
    table = SpanTable.from_columns(
        {
            T.TRACE_ID: ["a" * 32] * 5,
            T.SPAN_ID: ids,
            T.PARENT_ID: ["", ids[0], ids[1], ids[0], ids[0]],
            T.NAME: names,
            T.START: [100, 60, 40, 150, 10],
            T.END: [200, 130, 120, 180, 50],
        }
    )
    path = span_critical_path(stitch(table))
    assert all(100 <= s.start < s.end <= 200 for s in path), path
    assert sum(s.end - s.start for s in path) == 200 - 100
    assert [s.start for s in path] == [100, *(s.end for s in path[:-1])]  # sorted, no gap, no overlap
    name_of = dict(zip(ids, names, strict=True))
    assert [(name_of[s.span_id], s.start, s.end) for s in path] == [
        ("earlier", 100, 120),  # clamped to its parent, itself clamped to the root
        ("early", 120, 130),
        ("root", 130, 150),
        ("late", 150, 180),
        ("root", 180, 200),
    ]
