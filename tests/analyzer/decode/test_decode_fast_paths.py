"""The column-at-a-time decoders give exactly the rows and warnings of the span-by-span ones they speed up.

The span-by-span paths (``otlp_json._decode_spans``, ``otlp_proto.decode_message``) are the oracle for the
fast ones (``otlp_json.decode_typed`` and ``_decode_spans_by_column``, the compiled protobuf walk in
``otlp_proto._Scanned``): each case is decoded twice, once with the fast path switched off, and must come
out identical; for ordinary input the fast path must also have been the one taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from analyzer import framing
from analyzer.decode import decode, otlp_json, otlp_proto
from analyzer.errors import DecodeError
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

T0 = 1_700_000_000_000_000_000
TRACE = bytes(range(1, 17))


def _kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def _span(i: int, parent: int | None = None, **fields: object) -> bytes:
    sp = Span(
        trace_id=TRACE,
        span_id=i.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent is not None else b"",
        name=f"op{i % 3}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=T0 + i * 1000,
        end_time_unix_nano=T0 + i * 1000 + 500,
        attributes=[_kv(sc.EXEC_ID, string_value="e1"), _kv("n", int_value=i % 2)],
    )
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(sp, key).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(sp, key).CopyFrom(value)
        else:
            setattr(sp, key, value)
    return sp.SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n])


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _traces(*scopes: list[bytes], service: str = "svc") -> bytes:
    """A TracesData of one resource, one ScopeSpans per list of serialized spans (kept byte for byte)."""
    resource = Resource(attributes=[_kv("service.name", string_value=service)]).SerializeToString()
    body = _field(1, resource) + b"".join(
        _field(2, b"".join(_field(2, s) for s in spans)) for spans in scopes
    )
    return _field(1, body)


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[SpanTable, SpanTable, int]:
    """(table, table with the fast paths off, how many JSON span lists or protobuf records a fast path
    accepted)."""
    accepted: list[int] = []

    def counting(fn: Callable[..., Any], taken: Callable[[Any], bool]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            out = fn(*args)
            accepted.append(taken(out))
            return out

        return wrapper

    real_add = otlp_proto._Scanned.add
    monkeypatch.setattr(
        otlp_proto._Scanned, "add", lambda self, a, b: accepted.append(b - a) or real_add(self, a, b)
    )
    monkeypatch.setattr(
        otlp_json, "_decode_spans_by_column", counting(otlp_json._decode_spans_by_column, bool)
    )
    monkeypatch.setattr(otlp_json, "decode_typed", counting(otlp_json.decode_typed, bool))
    monkeypatch.setattr(otlp_proto, "_SMALL_BYTES", 0)  # these inputs are small: walk them all the same
    fast = decode(data, "x")
    monkeypatch.setattr(otlp_proto, "_SMALL_BYTES", 1 << 62)  # every record by upb
    monkeypatch.setattr(otlp_json, "_decode_spans_by_column", lambda *a: False)
    monkeypatch.setattr(otlp_json, "decode_typed", lambda *a: False)
    slow = decode(data, "x")
    pd.testing.assert_frame_equal(fast.df, slow.df)
    assert fast.warnings == slow.warnings
    return fast, slow, sum(accepted)


def test_ordinary_protobuf_spans_take_the_fast_path_and_match(monkeypatch):
    spans = [_span(1), *(_span(i, parent=1) for i in range(2, 40))]
    status = Status(code=Status.STATUS_CODE_ERROR, message="boom")
    spans.append(_span(40, parent=1, status=status, kind=Span.SPAN_KIND_SERVER))
    spans.append(_span(41, parent=0))  # an all-zero parent id: a root
    data = framing.frame(_traces(spans, [])) + framing.frame(_traces([_span(50)], service="other"))
    fast, _, accepted = _both(data, monkeypatch)
    assert accepted == 2  # both records
    assert len(fast) == 42 and fast.df["parent_id"].eq("").sum() == 3
    assert fast.df["attributes"].iloc[39]["otel.status_description"] == "boom"


@pytest.mark.parametrize("scope_last", [False, True])
def test_a_scope_written_after_its_spans_is_still_read(scope_last, monkeypatch):
    spans = [_span(1), *(_span(i, parent=1) for i in range(2, 300))]
    body = b"".join(_field(2, sp) for sp in spans)
    scope = _field(1, b"\x0a\x01s")  # InstrumentationScope{name: "s"}
    resource = Resource(attributes=[_kv("service.name", string_value="svc")]).SerializeToString()
    data = _field(1, _field(1, resource) + _field(2, body + scope if scope_last else scope + body))
    fast, _, accepted = _both(data, monkeypatch)
    assert len(fast) == 299 and accepted == 1


def test_span_list_with_a_field_between_the_spans_is_still_read_whole(monkeypatch):
    spans = [_span(i) for i in range(1, 6)]
    scope = _field(1, b"\x0a\x01s")
    body = b"".join(_field(2, sp) for sp in spans[:2]) + scope + b"".join(_field(2, sp) for sp in spans[2:])
    resource = Resource(attributes=[_kv("service.name", string_value="svc")]).SerializeToString()
    fast, _, accepted = _both(_field(1, _field(1, resource) + _field(2, body)), monkeypatch)
    assert fast.df["span_id"].tolist() == [i.to_bytes(8, "big").hex() for i in range(1, 6)] and accepted == 1


def test_more_distinct_strings_than_the_first_tables_hold_match(monkeypatch):
    # 5,000 names and attribute runs, all different: the tables of distinct strings grow mid-input
    records = [_traces([_span(i, name=f"op-{i}", attributes=[_kv("k", int_value=i)]) for i in range(r, r + 500)])
               for r in range(1, 5001, 500)]  # fmt: skip
    fast, _, accepted = _both(b"".join(framing.frame(r) for r in records), monkeypatch)
    assert accepted == 10 and fast.df["name"].nunique() == 5000


def test_records_upb_must_read_keep_their_place_among_the_others(monkeypatch):
    # a name that is not UTF-8 (upb repairs it, with a warning), a span without a span id (an error upb's
    # path reports) would stop everything: here the damaged one is a name, between two ordinary records
    bad_name = _field(1, TRACE) + _field(2, (7).to_bytes(8, "big")) + _field(5, b"op\xff")
    records = [_traces([_span(1), _span(2)]), _traces([bad_name], service="other"), _traces([_span(3)])]
    fast, _, accepted = _both(b"".join(framing.frame(r) for r in records), monkeypatch)
    assert accepted == 2 and len(fast) == 4
    assert fast.df["name"].tolist()[2] == "op\ufffd" and any("invalid UTF-8" in w for w in fast.warnings)


def test_resource_spans_without_scopes_and_empty_lists_match(monkeypatch):
    resource = Resource(attributes=[_kv("service.name", string_value="lonely")]).SerializeToString()
    data = _field(1, _field(1, resource)) + _traces([_span(1)], []) + _field(1, b"")
    fast, _, accepted = _both(data, monkeypatch)
    assert accepted == 1 and list(fast.df["service"].cat.categories) == ["lonely", "svc", ""]


def test_protobuf_attribute_values_of_every_type_match(monkeypatch):
    values = [
        _kv("s", string_value="x"), _kv("i", int_value=-5), _kv("b", bool_value=True),
        _kv("d", double_value=1.5), _kv("by", bytes_value=b"\x00\x01"),
        _kv("a", array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="y")])),
        _kv("kv", kvlist_value=KeyValueList(values=[_kv("inner", string_value="z")])),
    ]  # fmt: skip
    event = Span.Event(time_unix_nano=T0, name="ev", attributes=[_kv("e", string_value="v")])
    link = Span.Link(trace_id=TRACE, span_id=(9).to_bytes(8, "big"))
    data = _traces([_span(1, attributes=values, events=[event], links=[link], trace_state="k=v")])
    fast, _, accepted = _both(data, monkeypatch)
    assert accepted == 1
    assert fast.df["attributes"].iloc[0]["a"] == (1, "y")


@pytest.mark.parametrize(
    "raw",
    [
        # fields out of number order (a merge of two messages): still one span
        Span(name="late").SerializeToString() + _span(1),
        # a singular field twice: the last one wins
        _span(1) + Span(name="again").SerializeToString(),
        # attributes not written one after another
        _span(1) + Span(attributes=[_kv("later", string_value="v")]).SerializeToString(),
        # an enum value this version does not know, and a negative one
        _span(1, kind=9),
        _span(1) + Span(kind=-1).SerializeToString(),
        # a time beyond int64 (clamped, with a warning)
        _span(1, end_time_unix_nano=2**64 - 1),
    ],
)
def test_unusual_protobuf_spans_match_the_span_by_span_decoder(raw, monkeypatch):
    fast, _, _ = _both(_traces([_span(2), raw, _span(3)]), monkeypatch)
    assert len(fast) == 3


def _json_span(i: int, **fields: object) -> dict:
    span = {
        "traceId": TRACE.hex(), "spanId": f"{i:016x}", "parentSpanId": "" if i == 1 else f"{1:016x}",
        "name": f"op{i % 3}", "kind": 1, "startTimeUnixNano": str(T0 + i), "endTimeUnixNano": str(T0 + i + 5),
        "attributes": [{"key": sc.EXEC_ID, "value": {"stringValue": "e1"}}], "status": {},
    }  # fmt: skip
    span.update(fields)
    return span


@pytest.mark.parametrize(
    "odd",
    [
        {},  # ordinary
        {"spanId": "00000000000000AB", "parentSpanId": "00000000000000A1"},  # upper case hex
        {"spanId": "AAAAAAAAAKs="},  # base64 (Tempo)
        {"parentSpanId": "0000000000000000"},  # all-zero parent: a root
        {"status": {"code": 2, "message": "boom"}},
        {"kind": "SPAN_KIND_SERVER", "status": {"code": "STATUS_CODE_ERROR"}},
        {"attributes": [{"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}]},
        {"attributes": [{"key": "i", "value": {"intValue": 3}}, {"key": "j", "value": {"intValue": "3"}}]},
        {"startTimeUnixNano": None},
    ],
)
def test_json_spans_by_column_match_the_span_by_span_decoder(odd, monkeypatch):
    doc = {
        "resourceSpans": [{"scopeSpans": [{"spans": [_json_span(1), _json_span(2, **odd), _json_span(3)]}]}]
    }
    fast, _, accepted = _both(json.dumps(doc).encode(), monkeypatch)
    assert len(fast) == 3
    if not odd:
        assert accepted == 1


def test_json_spans_with_status_messages_are_read_by_column_and_match(monkeypatch):
    # a failed span's message becomes its attribute: spans with equal attributes but other messages (or none)
    # get their own attribute sets, and a message that looks like the attributes' JSON is no key of theirs
    attributes = [{"key": sc.EXEC_ID, "value": {"stringValue": "e1"}}]
    messages = ["boom", "bang", "boom", json.dumps(attributes, separators=(",", ":")), 7]
    spans = [
        _json_span(1),
        *(_json_span(i + 2, status={"code": 2, "message": m}) for i, m in enumerate(messages)),
    ]
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    fast, _, accepted = _both(json.dumps(doc).encode(), monkeypatch)
    assert accepted == 1
    assert fast.df["status"].tolist() == ["unset"] + ["error"] * len(messages)
    said = [(a or {}).get(otlp_json.STATUS_DESCRIPTION) for a in fast.df["attributes"]]
    assert said == [None, *messages]


@pytest.mark.parametrize("left_out", [("parentSpanId",), ("parentSpanId", "kind", "status", "attributes")])
def test_json_spans_that_leave_out_default_fields_match_the_span_by_span_decoder(left_out, monkeypatch):
    spans = [_json_span(1), _json_span(2), _json_span(3)]
    for key in left_out:
        del spans[0][key]  # writers omit fields holding their default value
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    fast, _, accepted = _both(json.dumps(doc).encode(), monkeypatch)
    assert accepted == 1 and fast.df["parent_id"].tolist() == ["", f"{1:016x}", f"{1:016x}"]


def _resource(service: str) -> dict:
    return {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}


@pytest.mark.parametrize(
    ("doc", "typed"),
    [
        # two resources, a scope with no spans, fields the analyzer does not read (events, links, flags, scope)
        ({"resourceSpans": [
            {"resource": _resource("a"), "scopeSpans": [{"scope": {"name": "s"}, "spans": []},
                                                       {"spans": [_json_span(1, flags=256, events=[], links=[])]}]},
            {"resource": _resource("b"), "scopeSpans": [{"spans": [_json_span(2), _json_span(3)]}]},
        ]}, True),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(1)]}]}]}, True),  # no resource
        # what the typed reader leaves to the general one
        ({"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": [_json_span(1)]}]}]}, False),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(1)]}]}], "status": "PARTIAL"}, False),
        ({"batches": [{"scopeSpans": [{"spans": [_json_span(1)]}]}]}, False),
    ],
)  # fmt: skip
def test_json_documents_read_typed_match_the_span_by_span_decoder(doc, typed, monkeypatch):
    taken: list[bool] = []
    real = otlp_json.decode_typed
    monkeypatch.setattr(otlp_json, "decode_typed", lambda *a: taken.append(real(*a)) or taken[-1])
    data = json.dumps(doc).encode()
    fast = decode(data, "x")
    monkeypatch.setattr(otlp_json, "decode_typed", lambda *a: False)
    monkeypatch.setattr(otlp_json, "_decode_spans_by_column", lambda *a: False)
    slow = decode(data, "x")
    pd.testing.assert_frame_equal(fast.df, slow.df)
    assert fast.warnings == slow.warnings
    assert taken == [typed]


def test_a_bad_id_in_json_is_reported_with_its_position_not_read_typed():
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(1), _json_span(2, spanId=7)]}]}]}
    table = decode(json.dumps(doc).encode(), "x")
    assert len(table) == 1
    assert "x: resourceSpans[0].scopeSpans[0].spans[1]: span id '7' is not 16 hex digits; span skipped" in (
        table.warnings
    )


def test_a_small_input_is_decoded_span_by_span(monkeypatch):
    walked: list[int] = []
    real = otlp_proto._proto_scan.scan
    monkeypatch.setattr(otlp_proto._proto_scan, "scan", lambda *a: walked.append(1) or real(*a))
    small = _traces([_span(1), _span(2, parent=1)])
    assert len(small) < otlp_proto._SMALL_BYTES
    assert len(decode(small, "x")) == 2 and not walked
    big = _traces([_span(i) for i in range(1, otlp_proto._SMALL_BYTES // 60)])
    assert len(decode(big, "x")) == otlp_proto._SMALL_BYTES // 60 - 1 and walked


def test_each_distinct_string_gets_one_code_also_after_the_tables_grow():
    # six records of 1,500 spans, 3,000 names in all: the first tables hold 2,048 strings, so they grow
    # (twice) with codes in them, and later records find the names of earlier ones
    records = [
        _traces([_span(i, name=f"op-{i % 3000}") for i in range(r, r + 1500)]) for r in range(0, 9000, 1500)
    ]
    data = b"".join(records)
    bounds = np.cumsum([0, *map(len, records)])
    found = otlp_proto._proto_scan.scan(np.frombuffer(data, dtype=np.uint8), bounds[:-1], bounds[1:])
    assert found.codes.tolist() == [3000, 1, 2]  # names; statuses (none); attributes (differ in "n": i % 2)


@pytest.mark.parametrize("seed", range(8))
def test_damaged_protobuf_is_read_as_upb_reads_it(seed, monkeypatch):
    # random bytes changed, cut or inserted: the compiled reader must neither crash nor read past a bound,
    # and whatever it does not take goes to upb, so the outcome is the span-by-span decoder's
    rng = np.random.default_rng(seed)
    good = bytearray(_traces([_span(1), *(_span(i, parent=1, status=Status(code=2)) for i in range(2, 30))]))
    for _ in range(25):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(data)))
            match int(rng.integers(0, 3)):
                case 0:
                    data[at] = int(rng.integers(0, 256))
                case 1:
                    del data[at:]
                case _:
                    data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 4)), dtype=np.uint8))
        outcomes = []
        for small in (0, 1 << 62):
            monkeypatch.setattr(otlp_proto, "_SMALL_BYTES", small)
            try:
                table = decode(bytes(data), "x")
                outcomes.append((table.df, table.warnings))
            except DecodeError as e:
                outcomes.append((None, str(e)))
        (fast, fast_said), (slow, slow_said) = outcomes
        assert fast_said == slow_said
        if fast is not None:
            pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.parametrize("cut", [1, 9, 100])
def test_the_reader_keeps_within_a_record_even_where_the_bytes_after_it_would_fit(cut):
    # the buffer holds the whole message, the record is said to end `cut` bytes early: reading on would
    # find well-formed spans, so only the bounds checks make this record one to leave to upb
    data = _traces([_span(i) for i in range(1, 6)])
    buf = np.frombuffer(data, dtype=np.uint8)
    whole = otlp_proto._proto_scan.scan(buf, np.array([0]), np.array([len(data)]))
    cut_short = otlp_proto._proto_scan.scan(buf, np.array([0]), np.array([len(data) - cut]))
    assert whole.ok.tolist() == [True] and cut_short.ok.tolist() == [False]
