"""Reading the local store (docs/store.md): every *.binpb / *.jsonl file read, cut-off tails warned, damage named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

import analyzer
from analyzer import framing
from analyzer import table as t
from analyzer.errors import DecodeError, NotFound
from analyzer.load import read_store

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
PB = (FIXTURES / "otelproto_example_trace.otlp.pb").read_bytes()


def _record(span_id: int) -> bytes:
    """The upstream example TracesData with its one span given another id."""
    td = TracesData.FromString(PB)
    td.resource_spans[0].scope_spans[0].spans[0].span_id = span_id.to_bytes(8, "big")
    return td.SerializeToString()


def _line(span_id: int) -> bytes:
    return json.dumps(json_format.MessageToDict(TracesData.FromString(_record(span_id)))).encode()


def test_read_store_reads_every_store_file_and_ignores_others(tmp_path):
    (tmp_path / "a.binpb").write_bytes(framing.frame(_record(1)) + framing.frame(_record(2)))
    (tmp_path / "b.jsonl").write_bytes(_line(3) + b"\n" + _line(4) + b"\n")
    (tmp_path / "c.binpb").write_bytes(b"")  # created by a writer that has not written yet
    (tmp_path / "notes.txt").write_text("not a store file")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.binpb").write_bytes(framing.frame(_record(5)))  # not recursive
    table = read_store(tmp_path)
    assert sorted(table.df[t.SPAN_ID]) == [f"{i:016x}" for i in (1, 2, 3, 4)]
    assert table.warnings == []
    assert sorted(analyzer.load(tmp_path).df[t.SPAN_ID]) == sorted(table.df[t.SPAN_ID])


def test_a_cut_off_last_record_is_skipped_with_a_warning_naming_file_and_offset(tmp_path):
    whole = framing.frame(_record(1))
    (tmp_path / "a.binpb").write_bytes(whole + framing.frame(_record(2))[:-3])
    (tmp_path / "b.jsonl").write_bytes(_line(3) + b"\n" + _line(4)[:30])
    table = read_store(tmp_path)
    assert sorted(table.df[t.SPAN_ID]) == [f"{i:016x}" for i in (1, 3)]
    assert any(f"a.binpb: byte {len(whole)}: last record truncated" in w for w in table.warnings)
    assert any("b.jsonl: line 2: last line truncated" in w for w in table.warnings)


def test_a_damaged_record_in_the_middle_is_an_error_naming_file_and_offset(tmp_path):
    first = framing.frame(_record(1))
    damaged = framing.frame(b"\x0a\xff\xff\xff\x0f" + bytes(20))
    (tmp_path / "a.binpb").write_bytes(first + damaged + framing.frame(_record(2)))
    with pytest.raises(DecodeError, match=rf"a\.binpb: byte {len(first)}: damaged protobuf"):
        read_store(tmp_path)


def test_a_missing_store_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no trace store"):
        read_store(tmp_path / "absent")
