"""Spans over real OTLP/gRPC and OTLP/HTTP to loopback receivers, decoded there and checked field by field."""

from __future__ import annotations

import hashlib

import pytest
from fo_receiver import GrpcReceiver, HttpReceiver
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

import flyte_otel as fo
from flyte_otel import semconv as sc

E = "exec-wire"
T0 = 1_700_000_000_000_000_000


def _value(kv):
    return getattr(kv.value, kv.value.WhichOneof("value"))


@pytest.mark.parametrize(
    ("receiver_cls", "exporter"), [(GrpcReceiver, "otlp-grpc"), (HttpReceiver, "otlp-http")]
)
def test_spans_arrive_over_the_wire_field_by_field(receiver_cls, exporter: str) -> None:
    with receiver_cls() as receiver:
        fo.configure(
            exporter=exporter,
            endpoint=receiver.endpoint,
            one_trace=True,
            service_name="propeller-7",
            headers={"x-flyte-test": "wire"},
            timeout_s=5,
        )
        with fo.round(E, wf="wf.x", ns="dev", start=T0, end=T0 + 900):
            with (
                pytest.raises(ValueError),
                fo.workflow_store_update(E, size_bytes=2048, start=T0 + 100, end=T0 + 300),
            ):
                raise ValueError("conflict")
            with fo.event(
                sc.EventKind.TASK,
                E,
                node="n0",
                phase="RUNNING",
                phase_from="QUEUED",
                start=T0 + 400,
                end=T0 + 500,
            ):
                pass
        fo.shutdown()  # flushes: the exporter has returned when this returns
    received = receiver.spans()
    assert all(h.get("x-flyte-test") == "wire" for h in receiver.headers)
    by_name = {span.name: (resource, span) for resource, span in received}
    assert set(by_name) == {sc.ROUND, sc.WORKFLOW_STORE_UPDATE, sc.CREATE_TASK_EVENT}
    digest = hashlib.sha256(E.encode()).digest()
    resource, rnd = by_name[sc.ROUND]
    assert resource["service.name"] == "propeller-7"
    assert rnd.trace_id == digest[:16] and rnd.parent_span_id == digest[16:24]
    assert (rnd.kind, rnd.start_time_unix_nano, rnd.end_time_unix_nano) == (
        Span.SPAN_KIND_INTERNAL,
        T0,
        T0 + 900,
    )
    assert {kv.key: _value(kv) for kv in rnd.attributes} == {
        sc.EXEC_ID: E,
        sc.WORKFLOW: "wf.x",
        sc.NAMESPACE: "dev",
    }
    assert rnd.status.code == Status.STATUS_CODE_UNSET
    _, update = by_name[sc.WORKFLOW_STORE_UPDATE]
    assert update.trace_id == rnd.trace_id and update.parent_span_id == rnd.span_id
    assert {kv.key: _value(kv) for kv in update.attributes} == {sc.EXEC_ID: E, sc.ETCD_SIZE: 2048}
    assert update.attributes[1].value.HasField("int_value")
    assert (update.status.code, update.status.message) == (Status.STATUS_CODE_ERROR, "ValueError: conflict")
    assert [ev.name for ev in update.events] == ["exception"]
    assert (update.start_time_unix_nano, update.end_time_unix_nano) == (T0 + 100, T0 + 300)
    _, ev = by_name[sc.CREATE_TASK_EVENT]
    assert ev.kind == Span.SPAN_KIND_CLIENT and ev.parent_span_id == rnd.span_id
    assert {kv.key: _value(kv) for kv in ev.attributes} == {
        sc.EXEC_ID: E,
        sc.NODE_ID: "n0",
        sc.EVENT_KIND: "task",
        sc.PHASE: "RUNNING",
        sc.PHASE_FROM: "QUEUED",
    }
    assert len({s.span_id for _, s in received}) == 3 and all(len(s.span_id) == 8 for _, s in received)


def test_env_endpoint_and_protocol_choose_the_exporter(monkeypatch) -> None:
    with HttpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        fo.configure(timeout_s=5)
        with fo.round(E):
            pass
        fo.shutdown()
    assert [span.name for _, span in receiver.spans()] == [sc.ROUND]


def test_env_default_protocol_is_grpc(monkeypatch) -> None:
    with GrpcReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        fo.configure(timeout_s=5)
        with fo.cache_write(E, "n0"):
            pass
        fo.shutdown()
    assert [span.name for _, span in receiver.spans()] == [sc.WRITE_CATALOG_CACHE]
