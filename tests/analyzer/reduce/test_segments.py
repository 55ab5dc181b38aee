"""Node segments rebuilt from lifecycle records of executions whose every segment length is known."""

from __future__ import annotations

import flyte_otel as fo
from analyzer.reduce import segments as S
from analyzer.results import timeline as TL
from flyte_otel.semconv import NodeKind
from tests import builders as B
from tests.builders import MS, US, Task

T1 = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, task_teardown=1 * MS,
          node_teardown=2 * MS)  # fmt: skip


def _assert_tiles(n: TL.NodeTimeline) -> None:
    """A node's sections cover queued -> end with no gap or overlap, and its wait covers ready -> queued."""
    for parts, lo, hi in ((n.waiting, n.ready, n.queued), (n.sections, n.queued, n.end)):
        at = lo
        for s in parts:
            assert s.start == at and s.end > s.start, (n.node_id, parts)
            at = s.end
        assert at == hi, (n.node_id, parts)


def test_chain_segments_are_the_recorded_lengths():
    tasks = [T1, Task(4 * MS, 5 * MS, 6 * MS, 70 * MS, 8 * MS, 9 * MS)]
    with B.recording() as rec:
        B.chain(rec, tasks, setup=5 * MS, teardown=4 * MS)
        tl = S.node_timelines(rec.table())
    assert tl.lifecycle and not tl.warnings
    for i, t in enumerate(tasks):
        assert tl.nodes[f"n{i}"].totals() == t.segments()
        assert tl.nodes[f"n{i}"].duration == t.duration
    assert [(s.segment, s.duration) for s in tl.sections] == [
        (TL.WORKFLOW_SETUP, 5 * MS),
        (TL.WORKFLOW_TEARDOWN, 4 * MS),
    ]
    assert tl.duration == 5 * MS + sum(t.transition + t.duration for t in tasks) + 4 * MS
    for n in tl.nodes.values():
        _assert_tiles(n)


def test_retry_gap_is_node_reset_and_failed_attempt_is_retried():
    t = Task(
        1 * MS, 2 * MS, 3 * MS, 10 * MS, 1 * MS, 2 * MS, retries=((7 * MS, 500 * US), (8 * MS, 600 * US))
    )
    with B.recording() as rec:
        B.retry(rec, t, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    assert n.totals() == t.segments()
    assert [a.number for a in n.attempts] == [0, 1, 2]
    assert [s.segment for s in n.sections].count(TL.NODE_RESET) == 2
    _assert_tiles(n)


def test_cache_hit_is_all_flyte_time():
    with B.recording() as rec:
        B.cache_hit(rec, T1, transition=3 * MS, length=40 * MS, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n1"]
    assert n.kind == NodeKind.CACHE_HIT
    assert n.totals() == {TL.NODE_TRANSITION: 3 * MS, TL.NODE_SETUP: 40 * MS}
    assert {TL.SEGMENT_CATEGORY[s.segment] for s in n.sections} == {TL.FLYTE}


def test_dynamic_runs_its_pod_then_subnodes_and_children_wait_from_the_pod_end():
    own = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=4 * MS, task_teardown=1 * MS)
    kids = [
        Task(2 * MS, 1 * MS, 1 * MS, 20 * MS, 1 * MS, 1 * MS),
        Task(3 * MS, 1 * MS, 1 * MS, 30 * MS, 1 * MS, 1 * MS),
    ]
    with B.recording() as rec:
        B.dynamic(rec, own, kids, node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    subnodes = sum(k.transition + k.duration for k in kids)
    assert n.totals() == {**own.segments(), TL.SUBNODES: subnodes, TL.NODE_TEARDOWN: 5 * MS}
    assert n.children == ["n0/c0", "n0/c1"]
    assert tl.nodes["n0/c0"].totals() == kids[0].segments()
    assert tl.nodes["n0/c1"].totals() == kids[1].segments()
    for x in tl.nodes.values():
        _assert_tiles(x)


def test_subworkflow_start_and_end_nodes_anchor_it():
    inner = Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS)
    with B.recording() as rec:
        B.subworkflow(rec, inner, transition=2 * MS, start_len=3 * MS, end_len=4 * MS, node_teardown=6 * MS,
                      setup=1 * MS, teardown=1 * MS)  # fmt: skip
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    assert n.totals() == {
        TL.NODE_TRANSITION: 2 * MS,
        TL.SUBNODES: 3 * MS + inner.transition + inner.duration + 4 * MS,
        TL.NODE_TEARDOWN: 6 * MS,
    }
    assert tl.nodes["n0/start-node"].totals() == {TL.NODE_SETUP: 3 * MS}
    assert tl.nodes["n0/t0"].totals() == inner.segments()
    assert tl.nodes["n0/end-node"].totals() == {TL.NODE_SETUP: 4 * MS}


def test_launch_plan_child_execution_is_subnodes_and_recursed():
    inner = Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS)
    with B.recording() as rec:
        B.launch_plan(rec, inner, transition=2 * MS, launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS,
                      node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)  # fmt: skip
        parent, child = rec.table("ex-parent"), rec.table("ex-child")
    tl = S.node_timelines(parent, {"ex-child": child})
    n = tl.nodes["n0"]
    child_len = 3 * MS + inner.transition + inner.duration + 4 * MS
    assert n.totals() == {TL.NODE_TRANSITION: 2 * MS, TL.NODE_SETUP: 7 * MS, TL.SUBNODES: child_len,
                          TL.NODE_TEARDOWN: 5 * MS}  # fmt: skip
    assert n.child is not None and n.child.exec_id == "ex-child" and n.child.duration == child_len
    assert n.child.nodes["n0"].totals() == inner.segments()


def test_launch_plan_without_its_child_says_so_and_counts_subnodes():
    inner = Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS)
    with B.recording() as rec:
        B.launch_plan(rec, inner, transition=2 * MS, launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS,
                      node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)  # fmt: skip
        tl = S.node_timelines(rec.table("ex-parent"))
    assert tl.nodes["n0"].totals()[TL.SUBNODES] == tl.nodes["n0"].duration
    assert any("ex-child" in w and "not available" in w for w in tl.warnings)


def test_array_of_1000_reports_fan_out_and_spread_of_subtask_overheads():
    subs = [
        Task(task_setup=1 * MS + i * US, runtime=50 * MS, task_teardown=2 * MS + (i % 10) * US)
        for i in range(1000)
    ]
    subs[7] = Task(
        task_setup=1 * MS + 7 * US,
        runtime=50 * MS,
        task_teardown=2 * MS + 7 * US,
        retries=((3 * MS, 1 * MS),),
    )
    with B.recording() as rec:
        B.array(rec, subs, transition=1 * MS, node_setup=4 * MS, stagger=10 * US, node_teardown=6 * MS,
                setup=1 * MS, teardown=1 * MS)  # fmt: skip
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    ends = [4 * MS + i * 10 * US + subs[i].duration for i in range(1000)]
    assert n.totals() == {TL.NODE_TRANSITION: 1 * MS, TL.NODE_SETUP: 4 * MS, TL.SUBNODES: max(ends) - 4 * MS,
                          TL.NODE_TEARDOWN: 6 * MS}  # fmt: skip
    assert n.array is not None
    assert (n.array.size, n.array.subtasks, n.array.retries) == (1000, 1000, 1)
    assert n.array.spread[TL.TASK_SETUP] == {"min": 1 * MS, "p50": 1 * MS + 499_500, "max": 1 * MS + 999 * US}
    assert n.array.spread[TL.TASK_TEARDOWN] == {"min": 2 * MS, "p50": 2 * MS + 4_500, "max": 2 * MS + 9 * US}
    assert n.array.spread[TL.TASK_RUNTIME] == {"min": 50 * MS, "p50": 50 * MS, "max": 50 * MS}


def test_gate_wait_is_node_idle_not_overhead():
    with B.recording() as rec:
        b = B.Builder(rec, "ex-gate", setup=1 * MS)
        b.gate("n0", transition=2 * MS, setup=3 * MS, wait=5_000 * MS, teardown=4 * MS)
        b.finish(teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    assert n.totals() == {TL.NODE_TRANSITION: 2 * MS, TL.NODE_SETUP: 3 * MS, TL.NODE_IDLE: 5_000 * MS,
                          TL.NODE_TEARDOWN: 4 * MS}  # fmt: skip
    assert S.aggregate_overhead(tl) == 1 * MS + 1 * MS + 2 * MS + 3 * MS + 4 * MS


def test_max_parallelism_hold_back_is_idle_and_the_rest_is_transition():
    t = Task(transition=2 * MS, node_setup=1 * MS, task_setup=1 * MS, runtime=5 * MS, hold=30 * MS)
    with B.recording() as rec:
        b = B.Builder(rec, "ex-hold", setup=1 * MS)
        b.task("n0", t)
        b.finish(teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    assert [(s.segment, s.duration) for s in n.waiting] == [
        (TL.NODE_IDLE, 30 * MS),
        (TL.NODE_TRANSITION, 2 * MS),
    ]
    assert n.totals() == t.segments()


def test_pod_clock_skew_is_clamped_into_the_attempt_with_a_warning():
    # The pod's clock runs 5ms ahead: user code seems to end 4ms after propeller saw the attempt end.
    t = Task(transition=1 * MS, node_setup=1 * MS, task_setup=2 * MS, runtime=10 * MS, task_teardown=1 * MS,
             node_teardown=1 * MS, skew=5 * MS)  # fmt: skip
    with B.recording() as rec:
        B.retry(rec, t, setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n = tl.nodes["n0"]
    # Seen by propeller: setup 2ms + skew until user code "starts", then runtime until the attempt ends.
    assert n.totals() == {TL.NODE_TRANSITION: 1 * MS, TL.NODE_SETUP: 1 * MS, TL.TASK_SETUP: 7 * MS,
                          TL.TASK_RUNTIME: 6 * MS, TL.NODE_TEARDOWN: 1 * MS}  # fmt: skip
    assert any("clock skew" in w and "n0" in w for w in tl.warnings)
    assert n.duration == t.duration
    _assert_tiles(n)


def test_upstream_dialect_without_lifecycle_falls_back_to_handle_node_first_and_last_seen():
    with B.recording(one_trace=False) as rec:
        clock = rec.clock
        for _ in range(3):
            with (
                fo.round("ex-up", start=clock.advance(10 * MS)),
                fo.handle_node("ex-up", "n0", start=clock.advance(1 * MS), end=clock.advance(2 * MS)),
            ):
                pass
            clock.advance(1 * MS)
        tl = S.node_timelines(rec.table())
    assert not tl.lifecycle
    assert any("lifecycle" in w for w in tl.warnings)
    n = tl.nodes["n0"]
    # Each round: 10ms gap, handleNode from +1ms to +3ms, the round ends there, 1ms gap: 14ms a cycle.
    assert (n.queued - B.T0, n.end - B.T0) == (10 * MS + 1 * MS, 2 * 14 * MS + 10 * MS + 3 * MS)


def test_an_upstream_that_was_never_recorded_is_a_warning_not_a_crash():
    with B.recording() as rec:
        b = B.Builder(rec, "ex-partial", setup=1 * MS)
        b.end["ghost"] = b.end["start-node"]  # named as upstream, but no record of it is ever emitted
        b.task("n0", T1, upstream=("start-node", "ghost"))
        b.finish(teardown=1 * MS, upstream=("n0",))
        tl = S.node_timelines(rec.table())
    assert tl.nodes["n0"].totals() == T1.segments()
    assert any("ghost" in w and "n0" in w for w in tl.warnings)


def test_pod_side_spans_split_the_container_s_run_at_the_user_s_function() -> None:
    """TASK_RUNTIME is the user's function only; the pod's work before and after it is Flyte's (TASK_PREPARE,
    TASK_FINALIZE), and the node's segments still add up to its duration."""
    t = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=20 * MS, task_teardown=1 * MS,
             node_teardown=2 * MS, prepare=4 * MS, finalize=5 * MS)  # fmt: skip
    plain = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=20 * MS, task_teardown=1 * MS,
                 node_teardown=2 * MS)  # fmt: skip
    with B.recording() as rec:
        B.chain(rec, [t, plain], setup=1 * MS, teardown=1 * MS)
        tl = S.node_timelines(rec.table())
    n0, n1 = tl.nodes["n0"], tl.nodes["n1"]
    assert n0.totals() == {k: v for k, v in t.segments().items() if v}
    assert n0.totals()[TL.TASK_RUNTIME] == 11 * MS and TL.TASK_PREPARE not in n1.totals()  # n1: as before
    assert sum(s.duration for s in n0.sections) == n0.duration
    flyte = [s for s in n0.sections if TL.SEGMENT_CATEGORY[s.segment] == TL.FLYTE]
    assert sum(s.duration for s in flyte) == t.node_setup + t.prepare + t.finalize + t.node_teardown
