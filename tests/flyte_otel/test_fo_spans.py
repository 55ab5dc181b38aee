"""Operation helpers: names, attributes, parents, events and error status, as context manager and decorator."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN, SpanKind, StatusCode

import flyte_otel as fo
from flyte_otel import semconv as sc
from flyte_otel._runtime import RT

E, N = "exec-1", "n0/n0-0-n1"
INTERNAL, CLIENT = SpanKind.INTERNAL, SpanKind.CLIENT

# helper call -> (span name, attributes, kind): from docs/flyte_otel_api.md and DESIGN.md's upstream names
HELPERS = {
    "round": (
        lambda: fo.round(E, wf="wf1", ns="dev"),
        sc.ROUND,
        {sc.EXEC_ID: E, sc.WORKFLOW: "wf1", sc.NAMESPACE: "dev"},
        INTERNAL,
    ),
    "streak": (lambda: fo.streak(E, wf="wf1"), sc.STREAK, {sc.EXEC_ID: E, sc.WORKFLOW: "wf1"}, INTERNAL),
    "store_get": (lambda: fo.workflow_store_get(E), sc.WORKFLOW_STORE_GET, {sc.EXEC_ID: E}, INTERNAL),
    "store_update": (
        lambda: fo.workflow_store_update(E, size_bytes=4096),
        sc.WORKFLOW_STORE_UPDATE,
        {sc.EXEC_ID: E, sc.ETCD_SIZE: 4096},
        INTERNAL,
    ),
    "handle_node": (
        lambda: fo.handle_node(E, N, phase=sc.Phase.RUNNING),
        sc.HANDLE_NODE,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.PHASE: "RUNNING"},
        INTERNAL,
    ),
    "handle_task": (
        lambda: fo.handle_task(E, N, tasktype="python-task"),
        sc.HANDLE_TASK,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.TASK_TYPE: "python-task"},
        INTERNAL,
    ),
    "event_workflow": (
        lambda: fo.event(sc.EventKind.WORKFLOW, E, phase="RUNNING", phase_from="QUEUED"),
        sc.CREATE_WORKFLOW_EVENT,
        {sc.EXEC_ID: E, sc.EVENT_KIND: "workflow", sc.PHASE: "RUNNING", sc.PHASE_FROM: "QUEUED"},
        CLIENT,
    ),
    "event_node": (
        lambda: fo.event(sc.EventKind.NODE, E, node=N, phase="SUCCEEDED"),
        sc.CREATE_NODE_EVENT,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.EVENT_KIND: "node", sc.PHASE: "SUCCEEDED"},
        CLIENT,
    ),
    "event_task": (
        lambda: fo.event(sc.EventKind.TASK, E, node=N, phase="RUNNING", phase_from="QUEUED"),
        sc.CREATE_TASK_EVENT,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.EVENT_KIND: "task", sc.PHASE: "RUNNING", sc.PHASE_FROM: "QUEUED"},
        CLIENT,
    ),
    "blob_read": (
        lambda: fo.blob_read("s3://b/k/inputs.pb", size_bytes=12, exec_id=E, node=N),
        sc.READ_PROTOBUF,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.BLOB_KEY: "s3://b/k/inputs.pb", sc.BLOB_SIZE: 12},
        INTERNAL,
    ),
    "blob_write": (
        lambda: fo.blob_write("s3://b/k/outputs.pb"),
        sc.WRITE_PROTOBUF,
        {sc.BLOB_KEY: "s3://b/k/outputs.pb"},
        INTERNAL,
    ),
    "cache_lookup": (
        lambda: fo.cache_lookup(E, N, hit=False),
        sc.CHECK_CATALOG_CACHE,
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.CACHE_HIT: False},
        INTERNAL,
    ),
    "cache_write": (
        lambda: fo.cache_write(E, N),
        sc.WRITE_CATALOG_CACHE,
        {sc.EXEC_ID: E, sc.NODE_ID: N},
        INTERNAL,
    ),
    "k8s_get": (
        lambda: fo.k8s("get", "pods", exec_id=E, node=N),
        sc.K8S_CACHE_PREFIX + "Get",
        {sc.EXEC_ID: E, sc.NODE_ID: N, sc.K8S_VERB: "get", sc.K8S_RESOURCE: "pods"},
        INTERNAL,
    ),
    "k8s_create": (
        lambda: fo.k8s("create", "pods"),
        sc.K8S_CLIENT_PREFIX + "Create",
        {sc.K8S_VERB: "create", sc.K8S_RESOURCE: "pods"},
        INTERNAL,
    ),
    "admin": (
        lambda: fo.admin_call("GetExecution", exec_id=E),
        sc.ADMIN_SERVICE_PREFIX + "GetExecution",
        {sc.EXEC_ID: E, sc.RPC_METHOD: "GetExecution"},
        CLIENT,
    ),
    "datacatalog": (
        lambda: fo.datacatalog_call("GetArtifact"),
        sc.DATACATALOG_PREFIX + "GetArtifact",
        {sc.RPC_METHOD: "GetArtifact"},
        CLIENT,
    ),
}


class Boom(Exception):
    pass


@pytest.mark.parametrize("helper", HELPERS)
def test_helper_emits_the_upstream_name_attributes_and_kind(
    memory: InMemorySpanExporter, helper: str
) -> None:
    make, name, attrs, kind = HELPERS[helper]
    with make() as span:
        assert span.is_recording()
        assert trace.get_current_span() is span
    (got,) = memory.get_finished_spans()
    assert (got.name, dict(got.attributes), got.kind) == (name, attrs, kind)
    assert got.status.status_code == StatusCode.UNSET
    assert trace.get_current_span() is INVALID_SPAN  # the context was restored


@pytest.mark.parametrize("helper", HELPERS)
def test_helper_records_the_callers_exception_and_reraises_it_unchanged(
    memory: InMemorySpanExporter, helper: str
) -> None:
    make, name, _, _ = HELPERS[helper]
    error = Boom("etcd said no")
    with pytest.raises(Boom) as raised, make():
        raise error
    assert raised.value is error
    (got,) = memory.get_finished_spans()
    assert got.name == name
    assert got.status.status_code == StatusCode.ERROR
    assert got.status.description == "Boom: etcd said no"
    (exc_event,) = got.events
    assert exc_event.name == "exception"
    assert exc_event.attributes["exception.type"].rsplit(".", 1)[-1] == "Boom"
    assert exc_event.attributes["exception.message"] == "etcd said no"


@pytest.mark.parametrize("helper", HELPERS)
def test_helper_decorates_sync_and_async_functions_one_span_per_call(
    memory: InMemorySpanExporter, helper: str
) -> None:
    make, name, attrs, _ = HELPERS[helper]

    @make()
    def work(x: int) -> int:
        return x + 1

    @make()
    async def awork(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert work(1) == 2 and work(2) == 3
    assert asyncio.run(awork(5)) == 10
    spans = memory.get_finished_spans()
    assert [s.name for s in spans] == [name] * 3
    assert all(dict(s.attributes) == attrs for s in spans)
    assert len({s.context.span_id for s in spans}) == 3
    assert work.__name__ == "work" and awork.__name__ == "awork"


def test_decorated_async_function_records_and_reraises(memory: InMemorySpanExporter) -> None:
    @fo.k8s("delete", "pods")
    async def delete() -> None:
        raise Boom("gone")

    with pytest.raises(Boom):
        asyncio.run(delete())
    (got,) = memory.get_finished_spans()
    assert got.status.status_code == StatusCode.ERROR


def test_async_with_yields_the_span_and_nests_children(memory: InMemorySpanExporter) -> None:
    async def run() -> None:
        async with fo.round(E) as outer, fo.streak(E) as inner:
            assert inner.is_recording() and outer.is_recording()

    asyncio.run(run())
    streak, rnd = memory.get_finished_spans()
    assert streak.parent.span_id == rnd.context.span_id


def test_operations_inside_a_round_nest_through_the_current_context(memory: InMemorySpanExporter) -> None:
    with (
        fo.round(E),
        fo.streak(E),
        fo.handle_node(E, N),
        fo.event(sc.EventKind.NODE, E, node=N, phase="RUNNING"),
    ):
        pass
    spans = {s.name: s for s in memory.get_finished_spans()}
    chain = [sc.ROUND, sc.STREAK, sc.HANDLE_NODE, sc.CREATE_NODE_EVENT]
    assert spans[sc.ROUND].parent is None
    for parent, child in zip(chain, chain[1:], strict=False):
        assert spans[child].parent.span_id == spans[parent].context.span_id
        assert spans[child].context.trace_id == spans[sc.ROUND].context.trace_id


def test_each_round_is_its_own_trace_root_by_default(memory: InMemorySpanExporter) -> None:
    with fo.streak("outer"), fo.round(E):
        pass
    with fo.round(E):
        pass
    round1, outer, round2 = memory.get_finished_spans()
    assert round1.parent is None and round2.parent is None
    assert len({round1.context.trace_id, outer.context.trace_id, round2.context.trace_id}) == 3


def test_one_trace_round_parents_to_the_execution_root_derived_from_sha256() -> None:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, one_trace=True)
    with fo.streak("elsewhere"), fo.round(E):
        pass
    with fo.round(E):
        pass
    digest = hashlib.sha256(E.encode()).digest()
    round1, _, round2 = memory.get_finished_spans()
    for rnd in (round1, round2):
        assert rnd.context.trace_id == int.from_bytes(digest[:16], "big")
        assert rnd.parent.span_id == int.from_bytes(digest[16:24], "big")
        assert rnd.parent.is_remote


def test_virtual_clock_gives_each_span_its_start_and_end(memory: InMemorySpanExporter, clock) -> None:
    t0 = clock.now
    with fo.round(E):
        clock.advance(1_000)
        with fo.blob_write("k"):
            clock.advance(250)
        clock.advance(5)
    blob, rnd = memory.get_finished_spans()
    assert (rnd.start_time, rnd.end_time) == (t0, t0 + 1_255)
    assert (blob.start_time, blob.end_time) == (t0 + 1_000, t0 + 1_250)


def test_explicit_start_and_end_override_the_clock(memory: InMemorySpanExporter, clock) -> None:
    with fo.workflow_store_update(E, start=10, end=99):
        clock.advance(7)
    with fo.workflow_store_get(E, start=5):
        clock.advance(3)
    update, get = memory.get_finished_spans()
    assert (update.start_time, update.end_time) == (10, 99)
    assert (get.start_time, get.end_time) == (5, clock.now)


def test_yielded_span_takes_the_outcome_known_only_at_the_end(memory: InMemorySpanExporter) -> None:
    with fo.cache_lookup(E, N) as span:
        span.set_attribute(sc.CACHE_HIT, True)
    with fo.streak(E) as span:
        span.set_attribute(sc.STREAK_CHANGED, True)
    lookup, streak = memory.get_finished_spans()
    assert lookup.attributes[sc.CACHE_HIT] is True
    assert streak.attributes[sc.STREAK_CHANGED] is True


def test_disabled_helpers_are_one_shared_noop_that_emits_nothing() -> None:
    fo.configure(enabled=False)
    assert not fo.is_enabled()
    makers = [make for make, *_ in HELPERS.values()]
    assert len({id(make()) for make in makers}) == 1
    error = Boom("still mine")
    with pytest.raises(Boom) as raised, fo.round(E) as span:
        assert span is INVALID_SPAN
        raise error
    assert raised.value is error

    def plain() -> int:
        return 1

    assert fo.handle_node(E, N)(plain) is plain


def test_helpers_before_configure_are_noops() -> None:
    assert not fo.is_enabled()
    with fo.round(E) as span:
        assert not span.is_recording()


def test_a_failing_sdk_never_raises_into_the_caller(memory, monkeypatch, caplog) -> None:
    class Broken:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("sdk bug")

    monkeypatch.setattr(RT, "tracers", dict.fromkeys(RT.tracers, Broken()))
    ran = []
    with caplog.at_level(logging.WARNING, logger="flyte_otel"):
        for _ in range(3):
            with fo.round(E) as span:
                ran.append(span)
        with pytest.raises(Boom), fo.blob_read("k"):
            raise Boom()
    assert ran == [INVALID_SPAN] * 3
    assert len([r for r in caplog.records if "sdk bug" in r.getMessage()]) == 1  # logged once


def test_unknown_event_kind_is_logged_not_raised(memory: InMemorySpanExporter, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="flyte_otel"), fo.event("launchplan", E, phase="RUNNING"):
        pass
    assert memory.get_finished_spans() == ()
    assert "launchplan" in caplog.text


def test_upstream_services_put_client_spans_under_upstream_service_names() -> None:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, upstream_services=True)
    with fo.round(E):
        with fo.blob_read("k"), fo.k8s("get", "pods"), fo.event(sc.EventKind.NODE, E, phase="RUNNING"):
            pass
        with fo.datacatalog_call("GetArtifact"):
            pass
    service = {s.name: s.resource.attributes["service.name"] for s in memory.get_finished_spans()}
    assert service == {
        sc.ROUND: sc.SERVICE_PROPELLER,
        sc.READ_PROTOBUF: sc.SERVICE_BLOBSTORE,
        sc.K8S_CACHE_PREFIX + "Get": sc.SERVICE_K8S,
        sc.CREATE_NODE_EVENT: sc.SERVICE_ADMIN_CLIENT,
        sc.DATACATALOG_PREFIX + "GetArtifact": sc.SERVICE_DATACATALOG_CLIENT,
    }
    round_id = next(s for s in memory.get_finished_spans() if s.name == sc.ROUND).context.trace_id
    assert {s.context.trace_id for s in memory.get_finished_spans()} == {round_id}
