"""Node lifecycle records (docs/lifecycle.md): times, parents and attributes of a constructed execution."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import flyte_otel as fo
from flyte_otel import semconv as sc
from tests.flyte_otel.stored import store_spans

E = "exec-lifecycle"
MS = 1_000_000
Phase, Kind = sc.Phase, sc.NodeKind


def _derived(exec_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(exec_id.encode()).digest()
    return int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:24], "big")


def _by_key(memory: InMemorySpanExporter) -> dict[tuple, object]:
    out = {}
    for s in memory.get_finished_spans():
        key = (s.name, s.attributes.get(sc.NODE_ID), s.attributes.get(sc.ATTEMPT_NUMBER))
        assert key not in out, f"span emitted twice: {key}"
        out[key] = s
    return out


def test_constructed_execution_has_every_span_at_its_given_times_and_parents(memory) -> None:
    t = 1_000 * MS
    ex = fo.execution(E, wf="wf.retry", ns="dev", start=t)
    start = ex.node("start-node", kind=Kind.START, start=t + 1 * MS)
    start.end(Phase.SUCCEEDED, at=t + 2 * MS)
    ex.hold("n0", start=t + 2 * MS, end=t + 5 * MS)
    n0 = ex.node("n0", kind=Kind.TASK, upstream=["start-node"], start=t + 5 * MS)
    a0 = n0.attempt(0, start=t + 7 * MS)
    a0.user_code(start=t + 10 * MS, end=t + 20 * MS)
    a0.end(Phase.RETRYABLE_FAILURE, at=t + 22 * MS)
    a1 = n0.attempt(1, start=t + 30 * MS)
    a1.user_code(start=t + 33 * MS, end=t + 43 * MS)
    a1.end(Phase.SUCCEEDED, at=t + 45 * MS)
    n0.end(Phase.SUCCEEDED, at=t + 50 * MS)
    dyn = ex.node("n1", kind=Kind.DYNAMIC, upstream=["n0"], start=t + 51 * MS)
    child = ex.node("n1/n1-0-n0", kind=Kind.TASK, parent=dyn, start=t + 60 * MS)
    child.end(Phase.SUCCEEDED, at=t + 70 * MS)
    dyn.end(Phase.SUCCEEDED, at=t + 72 * MS)
    gate = ex.node("n2", kind=Kind.GATE, upstream=["n1"], start=t + 73 * MS)
    gate.idle(sc.IdleReason.GATE, start=t + 73 * MS, end=t + 90 * MS)
    gate.end(Phase.SUCCEEDED, at=t + 91 * MS)
    lp = ex.node("n3", kind=Kind.LAUNCH_PLAN, upstream=["n2"], start=t + 92 * MS, child_exec_id="exec-child")
    lp.end(Phase.FAILED, at=t + 95 * MS)
    arr = ex.node("n4", kind=Kind.ARRAY, upstream=["n2"], start=t + 92 * MS, array_size=2)
    arr.attempt(0, start=t + 93 * MS, array_index=1).end(Phase.SUCCEEDED, at=t + 94 * MS)
    arr.end(Phase.SUCCEEDED, at=t + 96 * MS)
    ex.end(Phase.FAILED, at=t + 100 * MS)

    s = _by_key(memory)
    root = s[(sc.EXECUTION, None, None)]
    trace_id, root_id = _derived(E)
    assert (root.context.trace_id, root.context.span_id, root.parent) == (trace_id, root_id, None)
    assert dict(root.attributes) == {
        sc.EXEC_ID: E,
        sc.WORKFLOW: "wf.retry",
        sc.NAMESPACE: "dev",
        sc.PHASE: "FAILED",
    }
    assert (root.start_time, root.end_time) == (t, t + 100 * MS)
    assert root.status.status_code == StatusCode.ERROR

    expected = {  # key -> (start, end, parent key, attributes beyond exec_id/node)
        (sc.NODE, "start-node", None): (
            1,
            2,
            (sc.EXECUTION, None, None),
            {sc.NODE_KIND: "start", sc.PHASE: "SUCCEEDED"},
        ),
        (sc.IDLE, "n0", None): (2, 5, (sc.EXECUTION, None, None), {sc.IDLE_REASON: "max_parallelism"}),
        (sc.NODE, "n0", None): (
            5,
            50,
            (sc.EXECUTION, None, None),
            {sc.NODE_KIND: "task", sc.NODE_UPSTREAM: ("start-node",), sc.PHASE: "SUCCEEDED"},
        ),
        (sc.ATTEMPT, "n0", 0): (
            7,
            22,
            (sc.NODE, "n0", None),
            {sc.ATTEMPT_NUMBER: 0, sc.PHASE: "RETRYABLE_FAILURE"},
        ),
        (sc.USER_CODE, "n0", 0): (10, 20, (sc.ATTEMPT, "n0", 0), {sc.ATTEMPT_NUMBER: 0}),
        (sc.ATTEMPT, "n0", 1): (30, 45, (sc.NODE, "n0", None), {sc.ATTEMPT_NUMBER: 1, sc.PHASE: "SUCCEEDED"}),
        (sc.USER_CODE, "n0", 1): (33, 43, (sc.ATTEMPT, "n0", 1), {sc.ATTEMPT_NUMBER: 1}),
        (sc.NODE, "n1", None): (
            51,
            72,
            (sc.EXECUTION, None, None),
            {sc.NODE_KIND: "dynamic", sc.NODE_UPSTREAM: ("n0",), sc.PHASE: "SUCCEEDED"},
        ),
        (sc.NODE, "n1/n1-0-n0", None): (
            60,
            70,
            (sc.NODE, "n1", None),
            {sc.NODE_KIND: "task", sc.NODE_PARENT: "n1", sc.PHASE: "SUCCEEDED"},
        ),
        (sc.NODE, "n2", None): (
            73,
            91,
            (sc.EXECUTION, None, None),
            {sc.NODE_KIND: "gate", sc.NODE_UPSTREAM: ("n1",), sc.PHASE: "SUCCEEDED"},
        ),
        (sc.IDLE, "n2", None): (73, 90, (sc.NODE, "n2", None), {sc.IDLE_REASON: "gate"}),
        (sc.NODE, "n3", None): (
            92,
            95,
            (sc.EXECUTION, None, None),
            {
                sc.NODE_KIND: "launchplan",
                sc.NODE_UPSTREAM: ("n2",),
                sc.PHASE: "FAILED",
                sc.CHILD_EXEC_ID: "exec-child",
            },
        ),
        (sc.NODE, "n4", None): (
            92,
            96,
            (sc.EXECUTION, None, None),
            {sc.NODE_KIND: "array", sc.NODE_UPSTREAM: ("n2",), sc.PHASE: "SUCCEEDED", sc.ARRAY_SIZE: 2},
        ),
        (sc.ATTEMPT, "n4", 0): (
            93,
            94,
            (sc.NODE, "n4", None),
            {sc.ATTEMPT_NUMBER: 0, sc.PHASE: "SUCCEEDED", sc.ARRAY_INDEX: 1},
        ),
    }
    assert set(s) == {*expected, (sc.EXECUTION, None, None)}
    for key, (start_ms, end_ms, parent_key, attrs) in expected.items():
        span = s[key]
        assert (span.start_time, span.end_time) == (t + start_ms * MS, t + end_ms * MS), key
        assert span.parent.span_id == s[parent_key].context.span_id, key
        assert span.context.trace_id == trace_id, key
        assert dict(span.attributes) == {sc.EXEC_ID: E, sc.NODE_ID: key[1], **attrs}, key
    assert s[(sc.ATTEMPT, "n0", 0)].status.status_code == StatusCode.ERROR
    assert s[(sc.ATTEMPT, "n0", 1)].status.status_code == StatusCode.UNSET


def test_records_end_once_and_at_the_clock_when_no_time_is_given(memory, clock) -> None:
    t0 = clock.now
    ex = fo.execution(E)
    node = ex.node("n0", kind=Kind.CACHE_HIT)
    clock.advance(40)
    node.end(Phase.SUCCEEDED)
    node.end(Phase.FAILED, at=t0 + 99)
    clock.advance(2)
    ex.end(Phase.SUCCEEDED)
    ex.end(Phase.SUCCEEDED)
    node_span, root = memory.get_finished_spans()
    assert (node_span.start_time, node_span.end_time, node_span.attributes[sc.PHASE]) == (
        t0,
        t0 + 40,
        "SUCCEEDED",
    )
    assert (root.start_time, root.end_time) == (t0, t0 + 42)


def test_pinned_ids_do_not_leak_into_the_next_span(memory) -> None:
    fo.execution(E, start=0).end(Phase.SUCCEEDED, at=1)
    with fo.round(E):
        pass
    root, rnd = memory.get_finished_spans()
    assert rnd.context.trace_id != root.context.trace_id
    assert rnd.context.span_id != root.context.span_id


def test_disabled_records_record_nothing_and_accept_every_call() -> None:
    fo.configure(enabled=False)
    ex = fo.execution(E)
    node = ex.node("n0", kind=Kind.TASK)
    attempt = node.attempt(0)
    attempt.user_code(start=1, end=2)
    attempt.end(Phase.SUCCEEDED)
    node.idle(sc.IdleReason.GATE, start=1, end=2)
    node.end(Phase.SUCCEEDED)
    ex.hold("n1", start=1, end=2)
    ex.end(Phase.SUCCEEDED)
    assert fo.execution("other") is ex


@pytest.mark.parametrize("ratio", [0.3])
def test_sampling_follows_the_derived_trace_id_for_the_whole_execution(ratio: float) -> None:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, one_trace=True, sampler=ratio)
    exec_ids = [f"exec-{i}" for i in range(60)]
    for exec_id in exec_ids:
        ex = fo.execution(exec_id, start=0)
        with fo.round(exec_id, start=1, end=2), fo.streak(exec_id, start=1, end=2):
            pass
        node = ex.node("n0", kind=Kind.TASK, start=1)
        node.attempt(0, start=1).end(Phase.SUCCEEDED, at=2)
        node.end(Phase.SUCCEEDED, at=3)
        ex.end(Phase.SUCCEEDED, at=4)
    # TraceIdRatioBased (OpenTelemetry spec): sampled iff the trace id's low 64 bits < ratio * 2^64.
    sampled = {e for e in exec_ids if _derived(e)[0] & (2**64 - 1) < round(ratio * 2**64)}
    assert 0 < len(sampled) < len(exec_ids)
    got: dict[str, int] = {}
    for span in memory.get_finished_spans():
        got[span.attributes[sc.EXEC_ID]] = got.get(span.attributes[sc.EXEC_ID], 0) + 1
    assert got == dict.fromkeys(sampled, 5)  # all five spans of a sampled execution, none of the others


_WORKER = """
import sys, flyte_otel as fo
fo.configure(exporter="file", path=sys.argv[1], one_trace=True, service_name="worker-" + sys.argv[2])
with fo.round("exec-shared", start=int(sys.argv[2]), end=int(sys.argv[2]) + 5):
    with fo.handle_node("exec-shared", "n0", start=int(sys.argv[2]) + 1, end=int(sys.argv[2]) + 2):
        pass
if sys.argv[2] == "200":
    fo.execution("exec-shared", start=0).end("SUCCEEDED", at=300)
"""


def test_rounds_from_different_processes_land_in_one_trace_under_one_root(tmp_path: Path) -> None:
    for offset in ("100", "200"):
        subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path), offset], check=True, timeout=60)
    spans = store_spans(tmp_path)
    trace_id, root_id = _derived("exec-shared")
    assert len(list(tmp_path.glob("*.binpb"))) == 2  # one file per process
    assert {sp["traceId"] for sp in spans} == {f"{trace_id:032x}"}
    roots = [sp for sp in spans if sp["name"] == sc.EXECUTION]
    assert [r["spanId"] for r in roots] == [f"{root_id:016x}"] and "parentSpanId" not in roots[0]
    rounds = [sp for sp in spans if sp["name"] == sc.ROUND]
    assert sorted(r["startTimeUnixNano"] for r in rounds) == ["100", "200"]
    assert {r["parentSpanId"] for r in rounds} == {f"{root_id:016x}"}


def test_an_attempt_s_id_is_derived_so_its_pod_can_hang_spans_under_it(memory) -> None:
    """The pod knows (execution, node, attempt[, array index]) and nothing of propeller's random ids."""
    ex = fo.execution(E, start=0)
    n = ex.node("n1/n0", kind=Kind.TASK, start=1 * MS)
    a = n.attempt(2, start=2 * MS)
    sub = n.attempt(0, start=2 * MS, array_index=7)
    pod_root = fo.operation(sc.POD_TASK, start=3 * MS, end=4 * MS)  # as the pod makes it, in another process
    token = otel_context.attach(fo.attempt_context(E, "n1/n0", 2))
    try:
        with pod_root:
            pass
    finally:
        otel_context.detach(token)
    a.end(Phase.SUCCEEDED, at=5 * MS)
    sub.end(Phase.SUCCEEDED, at=5 * MS)
    spans = memory.get_finished_spans()
    attempt = next(s for s in spans if s.name == sc.ATTEMPT and s.attributes.get(sc.ARRAY_INDEX) is None)
    mapped = next(s for s in spans if s.name == sc.ATTEMPT and s.attributes.get(sc.ARRAY_INDEX) == 7)
    pod = next(s for s in spans if s.name == sc.POD_TASK)
    digest = hashlib.sha256("\x00".join((E, "n1/n0", "2", "")).encode()).digest()
    assert attempt.context.span_id == int.from_bytes(digest[:8], "big")
    assert mapped.context.span_id != attempt.context.span_id
    assert pod.parent.span_id == attempt.context.span_id and pod.context.trace_id == _derived(E)[0]
