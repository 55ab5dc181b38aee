"""Every payload variant a backend or writer produces decodes to the same rows as its plain OTLP form."""

from __future__ import annotations

import base64
import copy
import json

import pandas as pd
import pytest
from decode_testlib import FIXTURES, canonical
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from analyzer import framing
from analyzer import table as t
from analyzer.decode import decode
from flyte_otel import semconv as sc

OTLP_EXAMPLE = json.loads((FIXTURES / "otelproto_example_trace.otlp.json").read_bytes())
T0 = 1_700_000_000_000_000_000  # virtual clock origin, ns


def _same(a: bytes, b: bytes) -> None:
    pd.testing.assert_frame_equal(canonical(decode(a).df), canonical(decode(b).df))


def _dumps(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _spans_of(doc: dict) -> list[dict]:
    return [sp for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]


def test_tempo_gogo_jsonpb_base64_ids_and_enum_names_decode_like_otlp_json():
    tempo = copy.deepcopy(OTLP_EXAMPLE)
    for sp in _spans_of(tempo):
        for key in ("traceId", "spanId", "parentSpanId"):
            sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
        sp["kind"] = "SPAN_KIND_SERVER"
        sp["status"] = {"code": "STATUS_CODE_UNSET"}
    assert len(_spans_of(tempo)[0]["traceId"]) == 24
    _same(_dumps({"batches": tempo["resourceSpans"]}), _dumps(OTLP_EXAMPLE))


def test_tempo_v2_trace_envelope_and_partial_status_warns():
    table = decode(_dumps({"trace": OTLP_EXAMPLE, "status": "PARTIAL"}), "tempo.json")
    _same(_dumps({"trace": OTLP_EXAMPLE}), _dumps(OTLP_EXAMPLE))
    assert len(table) == 1
    assert any("PARTIAL" in w and w.startswith("tempo.json") for w in table.warnings)


def test_times_as_json_numbers_equal_times_as_strings():
    numeric = copy.deepcopy(OTLP_EXAMPLE)
    for sp in _spans_of(numeric):
        sp["startTimeUnixNano"] = int(sp["startTimeUnixNano"])
        sp["endTimeUnixNano"] = int(sp["endTimeUnixNano"])
    _same(_dumps(numeric), _dumps(OTLP_EXAMPLE))


def _jaeger_v1(spans: list[dict]) -> bytes:
    return _dumps({"data": [{"traceID": "x", "spans": spans, "processes": {"p1": {"serviceName": "svc"}}}],
                   "errors": None})  # fmt: skip


def _jspan(span_id: str, refs: list[tuple[str, str]] = (), trace: str = "00000000000000ab") -> dict:
    return {"traceID": trace, "spanID": span_id, "operationName": "op", "startTime": 10, "duration": 5,
            "processID": "p1", "tags": [], "references": [{"refType": r, "traceID": trace, "spanID": s} for r, s in refs]}  # fmt: skip


def test_jaeger_v1_64_bit_trace_ids_are_left_padded_and_times_are_microseconds():
    df = decode(_jaeger_v1([_jspan("00000000000000a1")])).df
    assert df[t.TRACE_ID].tolist() == ["0" * 30 + "ab"]
    assert (df[t.START].iloc[0], df[t.END].iloc[0]) == (10_000, 15_000)
    assert df[t.SERVICE].astype(str).tolist() == ["svc"]


def test_jaeger_parent_is_first_child_of_else_first_follows_from():
    a, b, c, d = ("000000000000000" + x for x in "abcd")
    df = decode(_jaeger_v1([
        _jspan(a),
        _jspan(b, [("FOLLOWS_FROM", a)]),
        _jspan(c, [("FOLLOWS_FROM", a), ("CHILD_OF", b)]),
        _jspan(d, [("FOLLOWS_FROM", b), ("FOLLOWS_FROM", c)]),
    ])).df.set_index(t.SPAN_ID)  # fmt: skip
    assert df.loc[a, t.PARENT_ID] == "" and pd.isna(df.loc[a, t.REF_TYPE])
    assert (df.loc[b, t.PARENT_ID], df.loc[b, t.REF_TYPE]) == (a, "follows_from")
    assert (df.loc[c, t.PARENT_ID], df.loc[c, t.REF_TYPE]) == (b, "child_of")
    assert (df.loc[d, t.PARENT_ID], df.loc[d, t.REF_TYPE]) == (b, "follows_from")


def test_jaeger_api_errors_become_warnings():
    doc = json.loads(_jaeger_v1([_jspan("00000000000000a1")]))
    doc["errors"] = [{"code": 500, "msg": "storage timeout"}]
    assert any("storage timeout" in w for w in decode(_dumps(doc)).warnings)


def _sdk_spans() -> list:
    """Spans from the real OpenTelemetry SDK on a virtual clock, with flyte attributes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": sc.SERVICE_PROPELLER}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    attrs = {sc.EXEC_ID: "exec-1", sc.NODE_ID: "n0/n0-0-n1", sc.NODE_UPSTREAM: ("n0", "n1"),
             sc.ATTEMPT_NUMBER: 2, sc.CACHE_HIT: False, sc.BLOB_KEY: "s3://b/k", "custom": 1.5}  # fmt: skip
    root = tracer.start_span(sc.ROUND, start_time=T0, kind=SpanKind.INTERNAL)
    with trace.use_span(root, end_on_exit=False):
        child = tracer.start_span(
            sc.CREATE_NODE_EVENT, start_time=T0 + 100, kind=SpanKind.CLIENT, attributes=attrs
        )
        child.set_status(Status(StatusCode.ERROR, "admin said no"))
        child.end(end_time=T0 + 350)
    root.end(end_time=T0 + 1_000)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_sdk_exported_protobuf_decodes_ids_times_kinds_and_attributes():
    spans = _sdk_spans()
    df = decode(encode_spans(spans).SerializeToString()).df.set_index(t.NAME)
    root = spans[1]  # the SDK reports spans as they end: the child first
    assert df.loc[sc.ROUND, t.SPAN_ID] == f"{root.context.span_id:016x}"
    assert df.loc[sc.ROUND, t.TRACE_ID] == f"{root.context.trace_id:032x}"
    assert df.loc[sc.CREATE_NODE_EVENT, t.PARENT_ID] == f"{root.context.span_id:016x}"
    ev = df.loc[sc.CREATE_NODE_EVENT]
    assert (ev[t.START], ev[t.END], ev[t.KIND], ev[t.STATUS]) == (T0 + 100, T0 + 350, "client", "error")
    assert (ev[sc.EXEC_ID], ev[sc.NODE_ID], ev[sc.NODE_UPSTREAM]) == ("exec-1", "n0/n0-0-n1", ("n0", "n1"))
    assert (ev[sc.ATTEMPT_NUMBER], ev[sc.CACHE_HIT]) == (2, False)
    assert ev[t.ATTRIBUTES] == {
        sc.BLOB_KEY: "s3://b/k",
        "custom": 1.5,
        "otel.status_description": "admin said no",
    }
    assert ev[t.CATEGORY] == sc.Category.EVENT_NODE and df.loc[sc.ROUND, t.CATEGORY] == sc.Category.ROUND
    assert df.loc[sc.ROUND, t.ATTRIBUTES] is None
    assert str(df[t.SERVICE].iloc[0]) == sc.SERVICE_PROPELLER


def test_protobuf_and_collector_file_exporter_forms_decode_alike():
    spans = _sdk_spans()
    request = encode_spans(spans)
    as_traces_data = TracesData.FromString(request.SerializeToString()).SerializeToString()
    _same(request.SerializeToString(), as_traces_data)
    halves = [encode_spans(spans[:1]).SerializeToString(), encode_spans(spans[1:]).SerializeToString()]
    _same(b"".join(framing.frame(h) for h in halves), as_traces_data)  # file exporter format: proto
    lines = b"\n".join(json.dumps(json_format.MessageToDict(ExportTraceServiceRequest.FromString(h))).encode()
                       for h in halves) + b"\n"  # fmt: skip
    _same(lines, as_traces_data)  # file exporter format: json (one request per line)


@pytest.mark.parametrize("bad_kind", [9, "SPAN_KIND_FROM_THE_FUTURE"])
def test_unknown_span_kind_is_unspecified(bad_kind):
    doc = copy.deepcopy(OTLP_EXAMPLE)
    _spans_of(doc)[0]["kind"] = bad_kind
    assert decode(_dumps(doc)).df[t.KIND].tolist() == ["unspecified"]


def test_category_comes_from_the_rules_table_by_name_service_and_event_kind():
    spans = [
        _span_json("00000000000000a1", sc.WORKFLOW_STORE_UPDATE, []),
        _span_json("00000000000000a2", "my.custom.event", [(sc.EVENT_KIND, sc.EventKind.TASK)]),
        _span_json("00000000000000a3", "my.custom.event", []),
    ]
    doc = copy.deepcopy(OTLP_EXAMPLE)
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans
    df = decode(_dumps(doc)).df
    assert df[t.CATEGORY].tolist() == [sc.Category.ETCD_WRITE, sc.Category.EVENT_TASK, sc.Category.OTHER]


def _span_json(span_id: str, name: str, attrs: list[tuple[str, str]]) -> dict:
    return {"traceId": "ab" * 16, "spanId": span_id, "name": name, "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs]}  # fmt: skip
