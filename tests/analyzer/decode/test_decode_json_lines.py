"""JSON lines are converted in bulk across lines, with exactly the result of reading them one by one.

The oracle is the reader made to convert one line at a time (``decode_lines`` given one line: never read
as a run with others, what each line gave before the lines were read in bulk). Every case is read both ways and
must give the same table (every column, the row order, the categories) and the same warnings; the spans are
an execution recorded with flyte_otel on a virtual clock and written by its file exporter's encoder, one
span a line, several a line or all in one document.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

import pandas as pd
import pytest
from decode_testlib import FIXTURES

import analyzer
import flyte_otel as fo
from analyzer.decode import decode, decode_store_file, json_lines, otlp_json
from analyzer.decode._columns import Columns
from analyzer.decode.json_lines import decode_lines
from analyzer.errors import DecodeError
from flyte_otel.otlp_encode import encode_json
from tests import builders as B
from tests.builders import MS, Task


def _spans(exec_id: str) -> list[Any]:
    """The finished spans of a small execution (task nodes with retries, blob reads), in export order."""
    with B.recording() as rec:
        task = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS,
                    retries=[(3 * MS, 1 * MS)], prepare=2 * MS, finalize=1 * MS)  # fmt: skip
        b = B.chain(rec, [task] * 3, setup=5 * MS, teardown=4 * MS, exec_id=exec_id)
        with fo.blob_read(f"s3://bucket/{exec_id}/n0/inputs.pb", size_bytes=10, exec_id=exec_id, node="n0"):
            rec.clock.advance(b.setup)
        return list(rec.exporter.get_finished_spans())


SPANS = _spans("ex-lines")
OTHER = _spans("ex-other")  # written by another process (another resource): see _mixed


def _line(spans: list[Any], service: str | None = None) -> bytes:
    """One line as flyte_otel's file exporter writes an export of these spans (by a process of `service`)."""
    doc = encode_json(spans)
    if service is not None:
        for rs in doc["resourceSpans"]:
            rs["resource"]["attributes"] = [{"key": "service.name", "value": {"stringValue": service}}]
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _lines(spans: list[Any], per_line: int, service: str | None = None) -> list[bytes]:
    return [_line(spans[i : i + per_line], service) for i in range(0, len(spans), per_line)]


def _mixed() -> list[bytes]:
    """One span a line, the lines of two processes (two resources) taking turns."""
    pairs = zip(_lines(SPANS, 1), _lines(OTHER, 1, "other-service"), strict=True)
    return [line for pair in pairs for line in pair]


def _table(cols: Columns) -> tuple[pd.DataFrame | None, list[str] | str]:
    """(table, warnings), or (None, the error) when no span could be read."""
    try:
        table = cols.finish()
    except DecodeError as e:
        return None, str(e)
    return table.df, table.warnings


def _read(data: bytes) -> tuple[pd.DataFrame | None, list[str] | str]:
    """JSON lines read as a store file's are (`decode_lines`, a few megabytes at a time)."""
    cols = Columns("f.jsonl")
    json_lines.decode_json_lines(io.BytesIO(data), cols, "")
    return _table(cols)


def _one_by_one(data: bytes) -> tuple[pd.DataFrame | None, list[str] | str]:
    """The oracle: each line read on its own (`decode_lines` of that line alone), as before bulk reading."""
    cols = Columns("f.jsonl")
    offset = 0
    for lineno, line in enumerate(io.BytesIO(data), 1):
        if not decode_lines([(lineno, offset, line)], cols):
            break
        offset += len(line)
    return _table(cols)


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of spans of each columnar conversion, as they happen."""
    sizes: list[int] = []
    real = otlp_json._columns
    monkeypatch.setattr(
        otlp_json, "_columns", lambda fields, *a: sizes.append(len(fields[0])) or real(fields, *a)
    )
    return sizes


def _both(data: bytes) -> tuple[pd.DataFrame | None, list[str] | str]:
    """Read `data` in bulk and one line at a time; they must agree. Returns what was read."""
    bulk, alone = _read(data), _one_by_one(data)
    if bulk[0] is None or alone[0] is None:
        assert bulk == alone
    else:
        pd.testing.assert_frame_equal(bulk[0], alone[0])
        assert bulk[1] == alone[1]
    return bulk


def test_one_span_a_line_is_converted_in_bulk_into_the_table_of_the_same_spans_batched(conversions):
    one_a_line = b"".join(_lines(SPANS, 1))
    df, warnings = _both(one_a_line)
    assert df is not None and len(df) == len(SPANS) and warnings == []
    assert conversions[0] == len(SPANS)  # all the lines in one conversion (one line at a time: one each)
    for per_line in (2, 7, len(SPANS)):  # several a line, all in one document
        batched = b"".join(_lines(SPANS, per_line))
        table = decode(batched, "f.jsonl")
        pd.testing.assert_frame_equal(table.df, df)
        assert table.warnings == []
    whole = decode(json.dumps(encode_json(SPANS)).encode(), "f.json")  # a document, not JSON lines
    pd.testing.assert_frame_equal(whole.df, df)


def test_lines_of_two_processes_keep_each_span_its_service(conversions):
    df, _ = _both(b"".join(_mixed()))
    assert df is not None
    assert df["service"].tolist() == ["flytepropeller", "other-service"] * len(SPANS)
    conversions.clear()
    _read(b"".join(_mixed()))
    assert conversions == [2 * len(SPANS)]


def _jaeger_line() -> bytes:
    doc = json.loads((FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json").read_bytes())
    return json.dumps(doc).encode()


def _edit(line: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(line)
    edit(doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
    return json.dumps(doc, separators=(",", ":")).encode()


def _set(**fields: Any) -> Callable[[bytes], bytes]:
    return lambda line: _edit(line, lambda span: span.update(fields))


# A line put in the middle of the one-span-a-line file: (what it is, the line made from a good one, a warning
# that says it was seen, or None when it reads without one).
DAMAGE: tuple[tuple[str, Callable[[bytes], bytes], str | None], ...] = (
    ("invalid JSON", lambda line: line[:60] + b"}", "line 21: invalid JSON"),
    ("zero bytes before a line", lambda line: b"\0" * 7 + line, "line 21: damaged: 7 zero byte(s) skipped"),
    ("only zero bytes", lambda line: b"\0" * 300, "line 21: damaged: 300 zero byte(s) skipped"),
    ("a blank line", lambda line: b"  \t", None),
    ("a JSON array", lambda line: b"[1, 2]", "line 21: JSON list where a trace object was expected"),
    ("a Jaeger document", lambda line: _jaeger_line(), None),
    ("a Tempo envelope", lambda line: line.replace(b'"resourceSpans"', b'"batches"'), None),
    ("a partial trace", lambda line: line[:-1] + b',"status":"PARTIAL"}', "line 21: the backend returned a PARTIAL"),
    ("no spans at all", lambda line: b'{"resourceSpans":[]}', None),
    ("an empty list of spans", lambda line: b'{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}', None),
    ("a base64 span id", _set(spanId="AAAAAAAAAKs="), None),
    ("a span id that is a number", _set(spanId=7), "line 21: resourceSpans[0].scopeSpans[0].spans[0]: span id"),
    ("a time that is not a number", _set(startTimeUnixNano="soon"), "line 21: resourceSpans[0].scopeSpans[0]"),
    ("an end before its start", _set(endTimeUnixNano="1"), "line 21: resourceSpans[0].scopeSpans[0].spans[0]: end"),
    ("an error status with a message", _set(status={"code": 2, "message": "boom"}), None),
    ("a lone surrogate in a name", _set(name="\ud800x"), "line 21: resourceSpans[0].scopeSpans[0].spans[0]: span name"),
    ("an attribute that is not base64", _set(attributes=[{"key": "b", "value": {"bytesValue": "abc"}}]), "line 21"),
)  # fmt: skip


@pytest.mark.parametrize(("what", "damage", "says"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_or_unusual_line_amid_the_others_reads_as_it_did_alone(what, damage, says, conversions):
    lines = _mixed()
    lines[20] = damage(lines[20].rstrip(b"\n")) + b"\n"
    df, warnings = _both(b"".join(lines))
    assert df is not None
    if says is not None:
        assert any(says in w for w in warnings), warnings
    conversions.clear()
    _read(b"".join(lines))
    assert max(conversions) >= 16  # the lines around it still in bulk


@pytest.mark.parametrize("cut", [1, 40, -2])
def test_a_cut_off_last_line_is_warned_with_its_offset_as_before(cut):
    lines = _mixed()
    data = b"".join(lines)
    offset = len(data) - len(lines[-1])
    df, warnings = _both(data[: offset + cut % len(lines[-1])])
    assert df is not None and len(df) == len(lines) - 1
    assert f"f.jsonl: line {len(lines)}: last line truncated (byte {offset}); skipped" in warnings


def test_a_last_line_without_its_newline_is_read_when_whole():
    df, warnings = _both(b"".join(_mixed()).rstrip(b"\n"))
    assert df is not None and len(df) == 2 * len(SPANS) and warnings == []


def test_lines_read_a_few_at_a_time_give_the_positions_of_the_whole_file(monkeypatch):
    lines = _mixed()
    lines[30] = b"{oops\n"
    data = b"".join(lines)[:-5]  # the last line cut off
    whole = _read(data)
    monkeypatch.setattr(
        json_lines, "_LINES_READ", 3_000
    )  # a few lines a read: the damage lies past the first
    df, warnings = _both(data)
    assert df is not None and whole[0] is not None
    pd.testing.assert_frame_equal(df, whole[0])
    assert warnings == whole[1]
    assert any("line 31: invalid JSON" in w for w in warnings) and any("truncated" in w for w in warnings)


def _numbered(lines: list[bytes]) -> list[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of each line of a file."""
    offsets = [0, *accumulate(map(len, lines))]
    return [(i + 1, offsets[i], line) for i, line in enumerate(lines)]


def test_lines_chosen_from_a_file_are_named_by_their_place_in_it(conversions):
    lines = _mixed()
    lines[30] = b"{oops\n"
    lines[-1] = lines[-1][:50]
    chosen = [2, *range(25, 40), 44, len(lines) - 1]  # indexes: line 31 (invalid) and the cut-off last line
    cols = Columns("f.jsonl")
    whole = decode(b"".join(lines), "f.jsonl")
    numbered = _numbered(lines)
    conversions.clear()
    assert not decode_lines([numbered[i] for i in chosen], cols)  # False: the cut-off line ended it
    part = cols.finish()
    assert conversions == [6, 10]  # the lines before the invalid one together, those after it together
    # the rows of those lines; the services and names are coded in the order first met
    rows = [i if i < 30 else i - 1 for i in chosen[:-1] if i != 30]
    pd.testing.assert_frame_equal(
        part.df, whole.df.iloc[rows].reset_index(drop=True), check_categorical=False
    )
    assert (
        part.warnings == whole.warnings
    )  # line 31's and the cut-off last line's, named as in the whole file


def test_a_store_file_read_in_regions_of_one_line_converts_them_together(tmp_path, conversions):
    lines = _mixed()
    path = tmp_path / "spans.jsonl"
    path.write_bytes(b"".join(lines))
    numbered = _numbered(lines)
    chosen = range(0, len(lines), 3)  # the regions of an execution whose lines are every third
    regions = [(numbered[i][1], numbered[i][1] + len(lines[i]), i + 1) for i in chosen]
    cols = Columns("store")
    conversions.clear()
    decode_store_file(path, cols, "spans.jsonl: ", regions)
    assert conversions == [len(chosen)]
    whole = decode(b"".join(lines), "f.jsonl")
    expected = whole.df.iloc[list(chosen)].reset_index(drop=True)
    pd.testing.assert_frame_equal(cols.finish().df, expected, check_categorical=False)


def _damaged(rng: random.Random) -> Iterator[bytes]:
    for line in _mixed():
        if rng.random() < 0.08:
            at = rng.randrange(len(line))
            match rng.randrange(4):
                case 0:
                    line = line[:at] + line[at + 1 :]
                case 1:
                    line = line[:at] + bytes([rng.randrange(256)]) + line[at + 1 :]
                case 2:
                    line = line[:at] + rng.choice([b"\n", b"\0" * 5, b'"', b"null", b"}{", b"]"]) + line[at:]
                case _:
                    line = line[:at]
        yield line


@pytest.mark.parametrize("seed", range(12))
def test_randomly_damaged_lines_read_as_they_did_one_by_one(seed):
    data = b"".join(_damaged(random.Random(seed)))
    _both(data)
    _both(data[: random.Random(seed).randrange(len(data))])  # and cut off anywhere


def test_a_store_file_of_one_span_a_line_reads_as_the_same_spans_batched(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "spans.jsonl").write_bytes(b"".join(_lines(SPANS, 1)))
    (tmp_path / "b" / "spans.jsonl").write_bytes(b"".join(_lines(SPANS, 512)))
    one, batched = analyzer.load(tmp_path / "a"), analyzer.load(tmp_path / "b")
    pd.testing.assert_frame_equal(one.df, batched.df)
    assert one.warnings == batched.warnings == []


class _CountingDecoder:
    """`otlp_json._TYPED` counting the documents it is asked to read."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def decode(self, data: bytes) -> Any:
        self.calls += 1
        return self.real.decode(data)


def test_lines_that_repeat_their_resource_are_not_parsed_one_by_one(monkeypatch):
    counting = _CountingDecoder(otlp_json._TYPED)
    monkeypatch.setattr(otlp_json, "_TYPED", counting)
    lines = _mixed()
    df, warnings = _read(b"".join(lines))
    assert df is not None and len(df) == len(lines) and warnings == []
    assert counting.calls <= 2  # a template checked for each of the two processes, no line parsed alone


def _span_part(line: bytes) -> tuple[bytes, bytes, bytes]:
    """A one-span line as (the bytes before its span, the span, the bytes after)."""
    span = json.dumps(
        json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0], separators=(",", ":")
    )
    before, after = line.split(span.encode())
    return before, span.encode(), after


# Two broken lines whose spans, were they cut out and joined by a comma, would make two valid spans, as many
# as the lines seem to hold: each line is invalid JSON, and must be skipped as such. (what, the first line's
# span part made of a good one, the second's)
HALVES: tuple[tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]], ...] = (
    ("a bracket left open", lambda span: span[:-1] + b',"attributes":[[1', lambda span: b"2]]}," + span),
    ("a string left open", lambda span: span[:-1] + b',"name":"a', lambda span: b'b"},' + span),
)  # fmt: skip


@pytest.mark.parametrize(("what", "first", "second"), HALVES, ids=[h[0] for h in HALVES])
def test_two_broken_lines_are_not_read_as_the_spans_they_would_make_joined(what, first, second):
    lines = _lines(SPANS, 1)
    before, span, after = _span_part(lines[10])
    lines[10] = before + first(span) + after
    before, span, after = _span_part(lines[11])
    lines[11] = before + second(span) + after
    df, warnings = _both(b"".join(lines))
    assert df is not None and len(df) == len(SPANS) - 2
    assert any("line 11: invalid JSON" in w for w in warnings) and any(
        "line 12: invalid JSON" in w for w in warnings
    )


def test_lines_of_more_processes_than_templates_kept_read_as_one_by_one():
    processes = [_lines(SPANS, 1, f"service-{i}") for i in range(otlp_json._TEMPLATES + 4)]
    lines = [line for turn in zip(*processes, strict=True) for line in turn]
    empty = json.loads(lines[5])
    empty["resourceSpans"][0]["scopeSpans"][0]["spans"] = []  # a line of that process with no spans
    lines.insert(6, json.dumps(empty, separators=(",", ":")).encode() + b"\n")
    df, _ = _both(b"".join(lines))
    assert df is not None and df["service"].nunique() == len(processes)
