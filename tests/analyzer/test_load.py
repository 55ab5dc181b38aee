"""Reading the local store (docs/store.md): every *.binpb / *.jsonl file read, cut-off tails warned, damage named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

import analyzer
from analyzer import framing
from analyzer import table as t
from analyzer.errors import NotFound
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


def test_a_damaged_record_in_the_middle_is_skipped_naming_file_and_offset(tmp_path):
    first = framing.frame(_record(1))
    damaged = framing.frame(b"\x0a\xff\xff\xff\x0f" + bytes(20))
    (tmp_path / "a.binpb").write_bytes(first + damaged + framing.frame(_record(2)))
    (tmp_path / "b.binpb").write_bytes(framing.frame(_record(3)))
    table = read_store(tmp_path)
    assert sorted(table.df[t.SPAN_ID]) == [f"{i:016x}" for i in (1, 2, 3)]
    assert any(w.startswith(f"{tmp_path}: a.binpb: byte {len(first)}: damaged") for w in table.warnings)


# Damage a store file can hold, each between whole records: (what, bytes). Every whole record around it is read.
_DAMAGE = [
    ("a partial record left by a failed write", framing.frame(_record(9))[:40]),
    ("a zero-filled stretch left by a crash", bytes(100_003)),
    ("a length prefix past the end", b"\xff\xff\xff\xff\x0a\x01"),
    ("garbage", bytes(range(256)) * 3),
]


@pytest.mark.parametrize("what,junk", _DAMAGE, ids=[d[0] for d in _DAMAGE])
def test_damage_between_records_hides_none_of_them(tmp_path, what, junk):
    good = [framing.frame(_record(i)) for i in (1, 2, 3)]
    (tmp_path / "a.binpb").write_bytes(good[0] + junk + good[1] + junk + good[2])
    table = read_store(tmp_path)
    assert sorted(table.df[t.SPAN_ID]) == [f"{i:016x}" for i in (1, 2, 3)]
    damaged_at = len(good[0])
    assert any(w.startswith(f"{tmp_path}: a.binpb: byte {damaged_at}: damaged: ") for w in table.warnings)


def test_damage_before_the_first_record_and_a_zero_filled_tail_hide_nothing(tmp_path):
    (tmp_path / "a.binpb").write_bytes(bytes(1000) + framing.frame(_record(1)) + bytes(4096))
    (tmp_path / "b.jsonl").write_bytes(bytes(50) + _line(2) + b"\n" + bytes(4096))
    table = read_store(tmp_path)
    assert sorted(table.df[t.SPAN_ID]) == [f"{i:016x}" for i in (1, 2)]
    assert any(w.startswith(f"{tmp_path}: a.binpb: byte 0: damaged") for w in table.warnings)
    assert any(w.startswith(f"{tmp_path}: b.jsonl: line 1: damaged: 50 zero byte(s)") for w in table.warnings)


def test_a_bad_line_or_an_unreadable_file_is_skipped_naming_it(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(
        _line(1)
        + b"\n"
        + b'{"resourceSpans":[{"resource":{"attributes":5},"scopeSpans":[]}]}\n'
        + _line(2)
        + b"\n"
    )
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + _line(3) + b"\n" + _line(4) + b"\n")
    unreadable = tmp_path / "c.binpb"
    unreadable.write_bytes(framing.frame(_record(5)))
    unreadable.chmod(0)
    table = read_store(tmp_path)
    read = {int(x, 16) for x in table.df[t.SPAN_ID]}
    assert read == ({1, 2, 4, 5} if os.geteuid() == 0 else {1, 2, 4})  # root reads a mode-0 file
    if os.geteuid():
        assert any(w.startswith(f"{tmp_path}: c.binpb: cannot read") for w in table.warnings)
    assert any(
        w.startswith(f"{tmp_path}: a.jsonl: line 2: malformed") and w.endswith("line skipped")
        for w in table.warnings
    )
    assert any(w.startswith(f"{tmp_path}: b.jsonl: line 1: invalid JSON") for w in table.warnings)


def test_a_missing_store_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no trace store"):
        read_store(tmp_path / "absent")


_PEAK = """
import resource, sys
from analyzer.load import read_store
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
table = read_store(sys.argv[1])
print(len(table), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".binpb", ".jsonl"])
def test_a_zero_filled_tail_costs_at_most_three_times_the_file_in_memory(tmp_path, suffix):
    """What a crash can leave: one whole record, then 48 MB of zeros (the issue saw 3.5 GB for 64 MB)."""
    head = framing.frame(_record(1)) if suffix == ".binpb" else _line(1) + b"\n"
    path = tmp_path / f"a{suffix}"
    path.write_bytes(head + bytes(48 << 20))
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(tmp_path)], capture_output=True, text=True, check=True
    )
    rows, grown = map(int, out.stdout.split())
    assert rows == 1
    assert grown <= 3 * path.stat().st_size
