"""Bad input: a DecodeError naming the input and the position, or a warning with every span kept."""

from __future__ import annotations

import copy
import json
import re
import struct

import pytest
from decode_testlib import FIXTURES
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

import analyzer
from analyzer import framing
from analyzer import table as t
from analyzer.decode import decode
from analyzer.errors import DecodeError, NotFound
from flyte_otel import semconv as sc

OTLP = json.loads((FIXTURES / "otelproto_example_trace.otlp.json").read_bytes())
PB = (FIXTURES / "otelproto_example_trace.otlp.pb").read_bytes()
TID = "5b8efff798038103d269b633813fc60c"


def _doc(*spans: dict) -> bytes:
    doc = copy.deepcopy(OTLP)
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = list(spans)
    return json.dumps(doc).encode()


def _span(
    span_id: str = "00000000000000a1", start: int = 1_000, end: int = 2_000, trace_id: str = TID, **kw
) -> dict:
    return {"traceId": trace_id, "spanId": span_id, "name": "op", "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end), **kw}  # fmt: skip


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


SPANS_PATH = re.escape("resourceSpans[0].scopeSpans[0].spans")  # for regexes


def test_truncated_json_names_the_line_and_column():
    data = (FIXTURES / "otelproto_example_trace.otlp.json").read_bytes()[:500]
    with pytest.raises(DecodeError, match=r"^trace\.json: invalid JSON at line \d+ column \d+"):
        decode(data, "trace.json")


def test_truncated_protobuf_names_the_byte_offset():
    with pytest.raises(DecodeError, match=r"^trace\.pb: damaged protobuf at byte \d+: .*claims \d+ bytes"):
        decode(PB[:150], "trace.pb")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "this is a PNG image"),
        (b"service: flytepropeller\nspans:\n  - name: x\n", "text that is not JSON"),
        (b"", "empty input"),
        (b"  \n\t ", "empty input"),
        (b'{"hello": "world"}', "JSON but not a trace format"),
        (b"[1, 2, 3]", "JSON list where a trace object was expected"),
        (b"\xfe\xfe\xfe\xfe", "not JSON and not an OTLP protobuf"),
    ],
)
def test_wrong_format_is_named(data, says):
    with pytest.raises(DecodeError, match=f"^in.bin: .*{says}"):
        decode(data, "in.bin")


def test_a_span_without_a_span_id_is_skipped_with_a_warning_naming_its_json_path():
    table = decode(_doc(_span(), _span(span_id=""), _span("00000000000000a3")), "x")
    assert table.df[t.SPAN_ID].tolist() == ["00000000000000a1", "00000000000000a3"]
    assert [w for w in table.warnings if "skipped" in w] == [
        f"x: {SPANS_PATH.replace(chr(92), '')}[1]: span id missing; span skipped"
    ]


def test_a_file_in_which_no_span_can_be_read_is_an_error():
    no_tid = _span()
    del no_tid["traceId"]
    with pytest.raises(DecodeError, match=rf"^x: {SPANS_PATH}\[0\]: trace id missing: no span could be read"):
        decode(_doc(no_tid), "x")


@pytest.mark.parametrize("bad", ["00000000000000a1ff", "zz000000000000a1", "-1"])
def test_a_span_id_too_long_or_not_hex_is_skipped_with_a_warning(bad):
    table = decode(_doc(_span(), _span(span_id=bad)), "x")
    assert table.df[t.SPAN_ID].tolist() == ["00000000000000a1"]
    assert any(re.search(rf"^x: {SPANS_PATH}\[1\]: span id '{bad}' is not 16 hex digits; span skipped", w)
               for w in table.warnings), table.warnings  # fmt: skip


def test_a_parent_id_that_is_not_hex_skips_its_span():
    table = decode(_doc(_span(), _span("00000000000000a2", parentSpanId="not-an-id")), "x")
    assert table.df[t.SPAN_ID].tolist() == ["00000000000000a1"]
    assert any(
        "[1]: parent span id 'not-an-id' is not 16 hex digits; span skipped" in w for w in table.warnings
    )


def test_only_the_first_few_skipped_spans_are_named_the_rest_counted():
    spans = [_span(), *(_span(span_id="z" * (i + 1)) for i in range(8))]
    warnings = [w for w in decode(_doc(*spans), "x").warnings if "skipped" in w]
    assert len(warnings) == 6 and warnings[-1] == "x: 3 more unreadable span(s) skipped"


def test_a_protobuf_span_id_of_the_wrong_length_names_the_record():
    td = TracesData.FromString(PB)
    td.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02\x03"
    with pytest.raises(
        DecodeError, match=r"^f: byte 0: resource_spans\[0\]\.scope_spans\[0\]\.spans\[0\]: span id"
    ):
        decode(framing.frame(td.SerializeToString()), "f")


def test_end_before_start_is_kept_with_a_warning():
    table = decode(_doc(_span("00000000000000a1", 5_000, 4_000), _span("00000000000000a2")), "x")
    assert len(table) == 2
    assert table.duration_ns.tolist() == [-1_000, 1_000]
    assert any(re.search(rf"{SPANS_PATH}\[0\]: end before start", w) for w in table.warnings)


def test_absurd_and_missing_times_are_kept_with_warnings():
    year_ns = 365 * 24 * 3600 * 10**9
    table = decode(
        _doc(_span("00000000000000a1", 1_000, 1_000 + year_ns), _span("00000000000000a2", 0, 10)), "x"
    )
    assert len(table) == 2
    assert any("[0]: duration over 30 days" in w for w in table.warnings)
    assert any("[1]: no start time" in w for w in table.warnings)


def test_one_megabyte_attribute_values_are_kept_whole():
    big = "x" * 1_000_000
    table = decode(_doc(_span(attributes=[_kv("payload", big), _kv(sc.NODE_ID, big)])))
    row = table.df.iloc[0]
    assert row[t.ATTRIBUTES]["payload"] == big and row[sc.NODE_ID] == big
    td = TracesData.FromString(PB)
    td.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value = big
    assert decode(td.SerializeToString()).df.iloc[0][t.ATTRIBUTES]["my.span.attr"] == big


def test_non_utf8_in_a_json_attribute_is_replaced_and_warned():
    data = _doc(_span(attributes=[_kv("k", "caf@")]), _span("00000000000000a2")).replace(b"caf@", b"caf\xe9")
    table = decode(data, "x")
    assert len(table) == 2
    assert table.df.iloc[0][t.ATTRIBUTES] == {"k": "caf\ufffd"}
    assert any("invalid UTF-8" in w for w in table.warnings)


def test_non_utf8_in_a_protobuf_attribute_is_replaced_and_warned():
    pb = PB.replace(b"some value", b"some v\xfflue")  # same length: no length prefix changes
    table = decode(pb, "x")
    assert table.df.iloc[0][t.ATTRIBUTES] == {"my.span.attr": "some v\ufffdlue"}
    assert any("invalid UTF-8" in w for w in table.warnings)


def test_non_utf8_in_a_protobuf_span_name_is_replaced_and_warned():
    pb = PB.replace(b"I'm a server span", b"I'm a server sp\xffn")
    table = decode(pb, "x")
    assert table.df.iloc[0][t.NAME] == "I'm a server sp\ufffdn"
    assert any("invalid UTF-8" in w for w in table.warnings)


def test_a_structurally_wrong_span_is_skipped_with_a_warning_not_a_traceback():
    table = decode(_doc(_span(), _span("00000000000000a2", attributes=5), _span("00000000000000a3")), "x")
    assert table.df[t.SPAN_ID].tolist() == ["00000000000000a1", "00000000000000a3"]
    assert any(re.search(rf"^x: {SPANS_PATH}\[1\]: unreadable span \(TypeError", w) for w in table.warnings)


def test_a_parent_cycle_keeps_every_row():
    a, b = "00000000000000a1", "00000000000000a2"
    df = decode(_doc(_span(a, parentSpanId=b), _span(b, parentSpanId=a))).df
    assert df[t.PARENT_ID].tolist() == [b, a]


def _with_exec(span_id: str, exec_id: str | None, trace_id: str) -> dict:
    attrs = [_kv(sc.EXEC_ID, exec_id)] if exec_id else []
    return _span(span_id, trace_id=trace_id, attributes=attrs)


def test_two_executions_in_one_file_warn_and_exec_id_selects_one(tmp_path):
    t1, t2 = "1" * 32, "2" * 32
    path = tmp_path / "mixed.json"
    path.write_bytes(_doc(
        _with_exec("00000000000000a1", "exec-a", t1),
        _with_exec("00000000000000a2", None, t1),  # e.g. a gRPC event span: no exec_id, same trace
        _with_exec("00000000000000b1", "exec-b", t2),
    ))  # fmt: skip
    whole = analyzer.load(path)
    assert len(whole) == 3
    assert any(
        w.startswith(str(path)) and "2 executions" in w and "exec-a, exec-b" in w for w in whole.warnings
    )
    only_a = analyzer.load(path, exec_id="exec-a")
    assert sorted(only_a.df[t.SPAN_ID]) == ["00000000000000a1", "00000000000000a2"]
    with pytest.raises(NotFound, match="exec-c"):
        analyzer.load(path, exec_id="exec-c")


def test_json_lines_with_a_bad_middle_line_skip_it_naming_the_line_and_read_the_rest():
    line = _doc(_span()).replace(b"\n", b"")
    table = decode(line + b"\n{oops\n" + line + b"\n", "f.jsonl")
    assert len(table) == 2
    assert any(re.match(r"f\.jsonl: line 2: invalid JSON .*; line skipped$", w) for w in table.warnings)


def test_json_lines_with_a_cut_last_line_keep_the_whole_lines_and_warn():
    line = _doc(_span()).replace(b"\n", b"")
    table = decode(line + b"\n" + line + b"\n" + line[:40], "f.jsonl")
    assert len(table) == 2
    assert any("line 3: last line truncated" in w for w in table.warnings)


def test_framed_protobuf_with_a_cut_last_record_keeps_the_whole_records_and_warns():
    data = framing.frame(PB) + framing.frame(PB)[:50]
    table = decode(data, "f.binpb")
    assert len(table) == 1
    assert any(f"byte {4 + len(PB)}: last record truncated" in w for w in table.warnings)


def test_framed_protobuf_with_a_damaged_middle_record_skips_it_naming_its_offset():
    damaged = PB[:100] + b"\xff" * (len(PB) - 100)
    data = framing.frame(PB) + framing.frame(damaged) + framing.frame(PB)
    table = decode(data, "f.binpb")
    assert len(table) == 2
    assert any(
        re.match(rf"f\.binpb: byte {4 + len(PB)}: damaged protobuf.*; record skipped$", w)
        for w in table.warnings
    )


def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        analyzer.load(tmp_path / "nope.json")


def test_a_length_prefix_larger_than_the_file_is_reported():
    with pytest.raises(framing.Truncated) as e:
        list(framing.iter_records(struct.pack(">I", 1000) + b"\x0a\x00"))
    assert e.value.offset == 0


def test_a_time_beyond_int64_is_clamped_with_a_warning():
    table = decode(_doc(_span("00000000000000a1", 1_000, 2**64 - 1), _span("00000000000000a2")), "x")
    assert table.df[t.END].tolist() == [2**63 - 1, 2_000]
    assert any(re.search(rf"{SPANS_PATH}\[0\]: end out of range, clamped", w) for w in table.warnings)


def test_a_file_is_streamed_with_the_same_rules_as_bytes(tmp_path):
    framed = tmp_path / "spans.binpb"
    framed.write_bytes(framing.frame(PB) + framing.frame(PB)[:9])
    table = analyzer.load(framed)
    assert len(table) == 1
    assert any(w.startswith(f"{framed}: byte {4 + len(PB)}: last record truncated") for w in table.warnings)
    padded = tmp_path / "padded.json"
    padded.write_bytes(b" \n" * 100 + (FIXTURES / "otelproto_example_trace.otlp.json").read_bytes())
    assert analyzer.load(padded).df[t.SPAN_ID].tolist() == ["eee19b7ec3c1b174"]
    blank = tmp_path / "blank.json"
    blank.write_bytes(b" \n" * 100)
    with pytest.raises(DecodeError, match=f"^{re.escape(str(blank))}: empty input"):
        analyzer.load(blank)


def test_a_null_name_is_replaced_with_a_warning():
    table = decode(_doc(_span(), _span("00000000000000a2", name=None)), "x")
    assert table.df[t.NAME].astype(str).tolist() == ["op", ""]
    assert f"x: {SPANS_PATH.replace(chr(92), '')}[1]: span name None replaced with ''" in table.warnings


def test_a_lone_surrogate_in_a_name_or_an_attribute_is_replaced_with_a_warning():
    # json.dumps writes the lone half as the escape "\ud800", which json.loads reads back as it is
    span = _span(name="a\ud800b", attributes=[_kv("k", "x\udfff")])
    table = decode(_doc(span), "x")
    assert table.df[t.NAME].iat[0] == "a\ufffdb"
    assert table.df[t.ATTRIBUTES].iat[0] == {"k": "x\ufffd"}
    assert sum("replaced" in w for w in table.warnings) == 2
    table.df.to_json()  # writable as UTF-8


def test_json_nested_past_the_parsers_depth_is_one_error_naming_the_byte():
    deep = b'{"resourceSpans": ' + b"[" * 2_000 + b"]" * 2_000 + b"}"
    with pytest.raises(DecodeError, match=r"^x: JSON nested deeper than this parser reads \(byte 1041\)$"):
        decode(deep, "x")
