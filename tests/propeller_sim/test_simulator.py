"""The simulator's traces have FlytePropeller's structure: rounds, bounded streaks, etcd writes, events, node ids."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from flyte_otel import semconv as sc
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator
from propeller_sim.plan import Plan
from propeller_sim.portfolio import BY_NAME, PORTFOLIO
from propeller_sim.profile import load_profile
from tests.propeller_sim.conftest import Spans, attr

_START = 1_700_000_000_000_000_000


def _plan(name: str) -> Plan:
    return BY_NAME[name].plan(small=True)  # the local-run sizes where the registrable default is large


def _simulate(traced: Spans, name: str, dialect: str, **kw: object) -> tuple[list[ReadableSpan], Plan]:
    exporter = traced(dialect)
    plan = _plan(name)
    sim = Simulator(load_profile("default"), seed=7, clock=VirtualClock(_START), dialect=dialect, **kw)  # type: ignore[arg-type]
    result = sim.run(plan, failures=BY_NAME[name].sim_failures())
    assert result.phase == sc.Phase.SUCCEEDED
    return list(exporter.get_finished_spans()), plan


def _children(spans: Sequence[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    out: dict[int, list[ReadableSpan]] = defaultdict(list)
    for s in spans:
        if s.parent is not None:
            out[s.parent.span_id].append(s)
    return out


NAMES = [e.name for e in PORTFOLIO]


@pytest.mark.parametrize("name", NAMES)
def test_streaks_are_bounded_and_each_changed_streak_writes_etcd_once(traced: Spans, name: str) -> None:
    spans, _ = _simulate(traced, name, "flyte_otel", max_streak_length=3)
    kids = _children(spans)
    rounds = [s for s in spans if s.name == sc.ROUND]
    assert rounds
    for r in rounds:
        streaks = [c for c in kids[r.context.span_id] if c.name == sc.STREAK]
        reads = [c for c in kids[r.context.span_id] if c.name == sc.WORKFLOW_STORE_GET]
        assert 1 <= len(streaks) <= 3
        assert len(reads) == 1
        for i, streak in enumerate(sorted(streaks, key=lambda s: s.start_time)):
            writes = [c for c in kids[streak.context.span_id] if c.name == sc.WORKFLOW_STORE_UPDATE]
            changed = bool(attr(streak, sc.STREAK_CHANGED))
            assert len(writes) == (1 if changed else 0)
            if i < len(streaks) - 1:
                assert changed  # a round stops at the first streak that changed nothing
            for w in writes:
                assert int(attr(w, sc.ETCD_SIZE)) > 0  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_node_events_chain_phase_changes_one_event_each(traced: Spans, name: str) -> None:
    spans, _ = _simulate(traced, name, "flyte_otel")
    events: dict[tuple[object, object], list[ReadableSpan]] = defaultdict(list)
    for s in spans:
        if s.name == sc.CREATE_NODE_EVENT:
            events[(attr(s, sc.EXEC_ID), attr(s, sc.NODE_ID))].append(s)
    records = {(attr(s, sc.EXEC_ID), attr(s, sc.NODE_ID)): s for s in spans if s.name == sc.NODE}
    assert set(events) == set(records)
    for key, evs in events.items():
        evs.sort(key=lambda s: s.start_time)
        assert attr(evs[0], sc.PHASE_FROM) == sc.Phase.UNDEFINED
        for prev, nxt in zip(evs, evs[1:], strict=False):
            assert attr(nxt, sc.PHASE_FROM) == attr(prev, sc.PHASE)
            assert attr(nxt, sc.PHASE) != attr(prev, sc.PHASE)
        assert attr(evs[-1], sc.PHASE) == attr(records[key], sc.PHASE) == sc.Phase.SUCCEEDED


@pytest.mark.parametrize("name", NAMES)
def test_node_ids_in_spans_are_the_compiled_workflow_node_ids(traced: Spans, name: str) -> None:
    spans, plan = _simulate(traced, name, "flyte_otel")
    top_exec = next(attr(s, sc.EXEC_ID) for s in spans if s.name == sc.EXECUTION and s.parent is None
                    and not any(attr(o, sc.CHILD_EXEC_ID) == attr(s, sc.EXEC_ID) for o in spans))  # fmt: skip
    handled = {
        attr(s, sc.NODE_ID) for s in spans if s.name == sc.HANDLE_NODE and attr(s, sc.EXEC_ID) == top_exec
    }
    assert {str(n).split("/")[0] for n in handled} == {n.id for n in plan.nodes}


@pytest.mark.parametrize("name", ["tiny_parallel", "launch_plans", "retries"])
def test_upstream_dialect_makes_each_round_its_own_trace_with_upstream_services(
    traced: Spans, name: str
) -> None:
    spans, _ = _simulate(traced, name, "upstream")
    rounds = [s for s in spans if s.name == sc.ROUND]
    assert all(r.parent is None for r in rounds)
    assert len({r.context.trace_id for r in rounds}) == len(rounds)
    assert not any(s.name in (sc.EXECUTION, sc.NODE, sc.ATTEMPT) for s in spans)
    service = {s.name: s.resource.attributes["service.name"] for s in spans}
    assert service[sc.CREATE_NODE_EVENT] == sc.SERVICE_ADMIN_CLIENT
    assert service[sc.READ_PROTOBUF] == sc.SERVICE_BLOBSTORE
    assert service[sc.K8S_CACHE_PREFIX + "Get"] == sc.SERVICE_K8S
    assert service[sc.STREAK] == sc.SERVICE_PROPELLER


def test_one_trace_dialect_puts_an_execution_in_one_trace(traced: Spans) -> None:
    spans, _ = _simulate(traced, "tiny_chain", "flyte_otel")
    assert len({s.context.trace_id for s in spans}) == 1


def test_rounds_of_one_execution_never_overlap(traced: Spans) -> None:
    spans, _ = _simulate(traced, "tiny_parallel", "flyte_otel")
    rounds = sorted((s for s in spans if s.name == sc.ROUND), key=lambda s: s.start_time)
    assert all(a.end_time <= b.start_time for a, b in zip(rounds, rounds[1:], strict=False))  # type: ignore[operator]


def test_retried_node_has_one_attempt_per_planned_failure_plus_the_success(traced: Spans) -> None:
    spans, _ = _simulate(traced, "retries", "flyte_otel")
    attempts = sorted((s for s in spans if s.name == sc.ATTEMPT and attr(s, sc.NODE_ID) == "n1"),
                      key=lambda s: s.start_time)  # fmt: skip
    phases = [attr(a, sc.PHASE) for a in attempts]
    planned = BY_NAME["retries"].sim_failures()["n1"]
    assert phases == [sc.Phase.RETRYABLE_FAILURE] * planned + [sc.Phase.SUCCEEDED]
    assert [attr(a, sc.ATTEMPT_NUMBER) for a in attempts] == list(range(planned + 1))


def test_too_many_failures_fail_the_workflow(traced: Spans) -> None:
    traced("flyte_otel")
    plan = _plan("retries")
    sim = Simulator(load_profile("fixed"), clock=VirtualClock(_START))
    assert sim.run(plan, failures={"n1": 99}).phase == sc.Phase.FAILED


def test_second_execution_of_a_cached_chain_is_all_cache_hits(traced: Spans) -> None:
    exporter = traced("flyte_otel")
    plan = _plan("chained_cache")
    sim = Simulator(load_profile("fixed"), clock=VirtualClock(_START))
    first, second = sim.run(plan), sim.run(plan)
    kinds = Counter((attr(s, sc.EXEC_ID), attr(s, sc.NODE_KIND)) for s in exporter.get_finished_spans()
                    if s.name == sc.NODE)  # fmt: skip
    chain = BY_NAME["chained_cache"].module.LENGTH
    assert kinds[(first.exec_id, sc.NodeKind.TASK)] == chain
    assert kinds[(second.exec_id, sc.NodeKind.CACHE_HIT)] == chain
    assert kinds[(second.exec_id, sc.NodeKind.TASK)] == 0


def test_max_parallelism_caps_concurrent_attempts_and_records_the_hold(traced: Spans) -> None:
    spans, plan = _simulate(traced, "max_parallelism", "flyte_otel")
    attempts = [(s.start_time, s.end_time) for s in spans if s.name == sc.ATTEMPT]
    points = sorted([(t0, 1) for t0, _ in attempts] + [(t1, -1) for _, t1 in attempts])
    running = peak = 0
    for _, d in points:
        running += d
        peak = max(peak, running)
    assert peak <= plan.max_parallelism
    held = [
        s for s in spans if s.name == sc.IDLE and attr(s, sc.IDLE_REASON) == sc.IdleReason.MAX_PARALLELISM
    ]
    assert held


def test_map_node_records_one_attempt_per_sub_task(traced: Spans) -> None:
    spans, _ = _simulate(traced, "big_map", "flyte_otel")
    indexes = sorted(int(attr(s, sc.ARRAY_INDEX)) for s in spans if s.name == sc.ATTEMPT  # type: ignore[arg-type]
                     and attr(s, sc.ARRAY_INDEX) is not None)  # fmt: skip
    assert indexes == list(range(BY_NAME["big_map"].local_inputs["n"]))


def test_real_clock_spans_are_wall_time_within_the_run(traced: Spans) -> None:
    import time

    from propeller_sim.clock import RealClock
    from propeller_sim.profile import OPERATIONS, profile_from_dict

    instant = profile_from_dict({"operations": {op: {"dist": "fixed", "value": 0} for op in OPERATIONS}})
    exporter = traced("flyte_otel")
    before = time.time_ns()
    result = Simulator(instant, clock=RealClock()).run(_plan("tiny_chain"))
    after = time.time_ns()
    spans = exporter.get_finished_spans()
    assert result.phase == sc.Phase.SUCCEEDED
    assert spans and all(before <= s.start_time <= s.end_time <= after for s in spans)  # type: ignore[operator]


def test_upstream_dialect_events_carry_no_execution_id_but_sit_under_its_round(traced: Spans) -> None:
    spans, _ = _simulate(traced, "tiny_chain", "upstream")
    by_id = {s.context.span_id: s for s in spans}
    events = [
        s for s in spans if s.name in (sc.CREATE_NODE_EVENT, sc.CREATE_TASK_EVENT, sc.CREATE_WORKFLOW_EVENT)
    ]
    assert events
    for e in events:
        assert attr(e, sc.EXEC_ID) is None
        root = e
        while root.parent is not None:
            root = by_id[root.parent.span_id]
        assert root.name == sc.ROUND and attr(root, sc.EXEC_ID) is not None
