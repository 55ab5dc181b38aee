"""The receiver acknowledges only what the store reads back (issue 17): each request is read with the store
reader's own decoder; spans it would skip are answered with OTLP partial success and never stored; a request
of which nothing reads is refused. Afterwards the store reads whole, executions stored earlier included."""

from __future__ import annotations

import json
import random
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from test_collect_errors import JSON, PROTO, _auth, _grpc_export, _post

from analyzer import table as t
from analyzer.collect.intake import Intake, Rejected
from analyzer.collect.sink import StoreSink
from analyzer.load import read_store

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _span(i: int, **fields: object) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": TRACE,
        "spanId": f"{i:016x}",
        "name": f"op{i}",
        "startTimeUnixNano": str(1_000 * i),
        "endTimeUnixNano": str(1_000 * i + 500),
    }
    span.update(fields)
    return span


def _json(*spans: dict[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": list(spans)}]}]}).encode()


def _proto(*trace_ids: bytes) -> bytes:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i, tid in enumerate(trace_ids, 1):
        s = spans.add(trace_id=tid, span_id=i.to_bytes(8, "big"), name=f"p{i}")
        s.start_time_unix_nano, s.end_time_unix_nano = 10 * i, 10 * i + 5
    return req.SerializeToString()


# JSON bodies the attack answered 200 and that then poisoned the store; each with one good span
# beside the bad one: (what, body, spans that must be stored).
_POISON_JSON = [
    ("a parent id that is not hex", _json(_span(1), _span(2, parentSpanId="zz")), 1),
    ("a start time that is not a number", _json(_span(1), _span(2, startTimeUnixNano="abc")), 1),
    ("attributes that are not a list", _json(_span(1), _span(2, attributes=5)), 1),
    ("a status that is not an object", _json(_span(1), _span(2, status=5)), 1),
    ("an attribute value that is not its type", _json(_span(1), _span(2, attributes=[{"key": "a", "value": {"intValue": "zz"}}])), 1),
    ("a null name (read as '', warned)", _json(_span(1), _span(2, name=None)), 2),
    ("a UTF-8 BOM before the body", b"\xef\xbb\xbf" + _json(_span(1), _span(2)), 2),
]  # fmt: skip


def _read_back(store: Path) -> t.SpanTable:
    table = read_store(store)
    damage = [w for w in table.warnings if "skipped" in w or "damaged" in w]
    assert damage == [], "the store holds something its reader skips"
    return table


def _stored_earlier(receiver, token) -> None:  # type: ignore[no-untyped-def]
    status, _, _ = _post(receiver, _json(_span(99, traceId="f" * 32)), _auth(token, JSON))
    assert status == 200


@pytest.mark.parametrize("what,body,stored", _POISON_JSON, ids=[p[0] for p in _POISON_JSON])
def test_a_poison_json_body_stores_only_what_reads_back_and_says_what_it_rejected(
    receiver, token, tmp_path, what, body, stored
):
    _stored_earlier(receiver, token)
    status, ctype, out = _post(receiver, body, _auth(token, JSON))
    assert (status, ctype) == (200, JSON)
    partial = json.loads(out).get("partialSuccess", {})
    assert int(partial.get("rejectedSpans", 0)) == 2 - stored
    if stored < 2:
        assert "span(s) rejected" in partial["errorMessage"]
    table = _read_back(tmp_path / "store")
    assert sorted(table.df[t.SPAN_ID]) == sorted([f"{99:016x}", *(f"{i:016x}" for i in range(1, stored + 1))])


def test_a_warning_without_a_rejection_is_a_partial_success_of_zero_with_a_message(receiver, token, tmp_path):
    body = _proto(b"\x02" * 16).replace(b"p1", b"p\xff")  # a span name that is not UTF-8: read, repaired
    response = ExportTraceServiceResponse.FromString(_grpc_export(receiver, body, token))
    assert response.partial_success.rejected_spans == 0
    assert "invalid UTF-8" in response.partial_success.error_message
    assert read_store(tmp_path / "store").df[t.NAME].tolist() == ["p\ufffd"]


@pytest.mark.parametrize("bad_id", [b"\x01" * 20, b""], ids=["20-byte trace id", "empty trace id"])
def test_a_protobuf_span_with_a_bad_trace_id_is_rejected_over_http_and_grpc(
    receiver, token, tmp_path, bad_id
):
    _stored_earlier(receiver, token)
    body = _proto(b"\x02" * 16, bad_id)
    status, _, out = _post(receiver, body, _auth(token, PROTO))
    assert status == 200
    assert ExportTraceServiceResponse.FromString(out).partial_success.rejected_spans == 1
    response = ExportTraceServiceResponse.FromString(_grpc_export(receiver, body, token))
    assert response.partial_success.rejected_spans == 1
    assert "trace id" in response.partial_success.error_message
    table = _read_back(tmp_path / "store")
    assert sorted(table.df[t.SPAN_ID]) == [f"{1:016x}", f"{1:016x}", f"{99:016x}"]


def test_a_request_of_which_nothing_reads_is_refused_and_not_stored(receiver, token, tmp_path):
    _stored_earlier(receiver, token)
    status, _, out = _post(receiver, _json(_span(2, parentSpanId="zz")), _auth(token, JSON))
    assert status == 400 and "no span could be read" in json.loads(out)["message"]
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(receiver, _proto(b""), token)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(_read_back(tmp_path / "store")) == 1


def test_jaeger_json_on_the_otlp_path_is_refused(receiver, token):
    jaeger = json.dumps({"data": [{"traceID": "ab", "spans": [], "processes": {}}]}).encode()
    status, _, out = _post(receiver, jaeger, _auth(token, JSON))
    assert status == 400 and "not otlp-json" in json.loads(out)["message"]


def _mutations(rng: random.Random, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        i = rng.randrange(len(data)) if data else 0
        if op == 0 and data:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i : i + rng.randint(1, 8)]
        elif op == 2:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            data = data[: rng.randint(0, len(data))]
    return bytes(data)


def _json_swaps(rng: random.Random) -> bytes:
    """A request whose one field holds a value of another JSON type."""
    odd = rng.choice([None, 5, -1, 2**70, 1.5, "x", "", [], {}, [1], {"a": 1}, True])
    key = rng.choice(["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
                      "endTimeUnixNano", "attributes", "status", "events", "links"])  # fmt: skip
    return _json(_span(1), _span(2, **{key: odd}))


def test_fuzzed_bodies_never_poison_the_store(tmp_path):
    """Seeded: every body ends in an acknowledgement (maybe partial) or a refusal, and the store then reads
    back exactly the acknowledged spans, with nothing skipped."""
    rng = random.Random(17)
    intake = Intake(StoreSink(tmp_path / "store"))
    bases = [(intake.accept_json, _json(_span(1), _span(2, attributes=[{"key": "k", "value": {"intValue": "3"}}]))),
             (intake.accept_proto, _proto(b"\x02" * 16, b"\x03" * 16))]  # fmt: skip
    acknowledged = refused = 0
    for i in range(1_500):
        accept, base = bases[i % 2]
        body = _json_swaps(rng) if i % 5 == 0 else _mutations(rng, base)
        try:
            acknowledged += (accept if i % 5 else intake.accept_json)(body).accepted
        except Rejected:
            refused += 1
    intake.sink.close()
    table = _read_back(tmp_path / "store")
    assert len(table) == acknowledged
    assert refused and acknowledged  # the fuzz reached both outcomes
