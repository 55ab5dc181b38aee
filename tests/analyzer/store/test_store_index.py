"""The store index (analyzer/store/index.py, analyzer/indexing.py): folding one execution reads only the records
that hold its traces, and an index that is missing, stale, torn, rotated away or written concurrently still
gives exactly the execution a full read gives.

Ground truth is constructed: executions of known traces and spans (some spans of a trace carry no exec_id and
belong through their trace), written by the real SDK encoders in records of known batching.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analyzer import framing
from analyzer import table as t
from analyzer.errors import NotFound
from analyzer.execution import select_execution
from analyzer.load import read_store
from analyzer.source.local import StoreSource
from analyzer.store.index import INDEX_SUFFIX
from flyte_otel.otlp_encode import encode_json

EXECS = ("exec-a", "exec-b", "exec-c")
LOAD = importlib.import_module("analyzer.load")  # the module (the package's `analyzer.load` is its function)


def _spans(execs: tuple[str, ...] = EXECS, traces: int = 3, per_trace: int = 4) -> list[ReadableSpan]:
    """Per execution `traces` traces of `per_trace` spans; in each trace the root carries no exec_id (it
    belongs through its trace), the others carry it. Executions interleave, as rounds of several
    executions do in one propeller."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "flytepropeller"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    clock = 1_700_000_000_000_000_000
    for _ in range(traces):
        for x in execs:
            clock += 1_000_000
            with tracer.start_as_current_span("round", start_time=clock, end_on_exit=False) as root:
                for s in range(1, per_trace):
                    attrs = {"exec_id": x, "wf": f"wf-of-{x}", "n": s}
                    tracer.start_span("op", attributes=attrs, start_time=clock + s).end(
                        end_time=clock + s + 10
                    )
                root.end(end_time=clock + 100)
    return list(exporter.get_finished_spans())


def _write(path: Path, spans: list[ReadableSpan], per_record: int) -> None:
    """The spans in records of `per_record`, in the file's format (by suffix), appended."""
    with open(path, "ab") as f:
        for i in range(0, len(spans), per_record):
            f.write(_record(path, spans[i : i + per_record]))


def _record(path: Path, spans: list[ReadableSpan]) -> bytes:
    if path.suffix == framing.PROTO_SUFFIX:
        return framing.frame(encode_spans(spans).SerializeToString())
    return json.dumps(encode_json(spans), separators=(",", ":")).encode() + b"\n"


def _truth(spans: list[ReadableSpan], exec_id: str) -> set[str]:
    traces = {s.context.trace_id for s in spans if (s.attributes or {}).get("exec_id") == exec_id}
    return {f"{s.context.span_id:016x}" for s in spans if s.context.trace_id in traces}


def _ids(table: t.SpanTable) -> list[str]:
    return sorted(table.df[t.SPAN_ID].astype(str))


def _indexed(store: Path, exec_id: str) -> t.SpanTable:
    return select_execution(read_store(store, exec_id), exec_id, str(store))


def _full(store: Path, exec_id: str) -> t.SpanTable:
    return select_execution(read_store(store), exec_id, str(store))


def _regions_read(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int, int]] | None]:
    """From now on, the regions of each store file decoded (None: the whole file), in order."""
    regions: list[list[tuple[int, int, int]] | None] = []
    real = LOAD.decode_store_file
    monkeypatch.setattr(
        LOAD, "decode_store_file", lambda p, c, w, r=None: (regions.append(r), real(p, c, w, r))
    )
    return regions


@pytest.fixture(params=[framing.PROTO_SUFFIX, framing.JSON_LINES_SUFFIX])
def suffix(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("per_record", [1, 5, 1000])
def test_an_indexed_read_gives_each_execution_exactly_its_traces(tmp_path, suffix, per_record):
    spans = _spans()
    _write(tmp_path / f"a{suffix}", spans, per_record)
    for x in EXECS:
        indexed = _indexed(tmp_path, x)
        assert set(_ids(indexed)) == _truth(spans, x)
        assert _ids(indexed) == _ids(_full(tmp_path, x))
    assert (tmp_path / f"a{suffix}{INDEX_SUFFIX}").exists()


def test_only_the_records_of_the_execution_are_read(tmp_path, suffix, monkeypatch):
    """Executions written one after another: the index's regions for one of them hold its records only."""
    spans = [s for x in EXECS for s in _spans((x,))]
    _write(tmp_path / f"a{suffix}", spans, 2)
    read_store(tmp_path, "exec-b")  # builds the index
    regions = _regions_read(monkeypatch)
    table = read_store(tmp_path, "exec-b")
    size = (tmp_path / f"a{suffix}").stat().st_size
    assert len(regions) == 1 and regions[0] is not None
    read = sum(end - start for start, end, _ in regions[0])
    assert 0 < read < size / 2  # a third of the file, give or take the record boundaries
    assert set(_ids(table)) == _truth(spans, "exec-b")


def test_the_notebook_load_of_one_execution_reads_its_records_only(tmp_path, suffix, monkeypatch):
    """`analyzer.load(store, exec_id=...)` goes through the index as `otel-fold` does: one file of three
    executions written one after another, only the asked one's records decoded, exactly its spans."""
    spans = [s for x in EXECS for s in _spans((x,))]
    _write(tmp_path / f"a{suffix}", spans, 2)
    read_store(tmp_path, "exec-a")  # builds the index
    regions = _regions_read(monkeypatch)
    table = LOAD.load(tmp_path, exec_id="exec-c")
    assert len(regions) == 1 and regions[0] is not None
    assert 0 < sum(end - start for start, end, _ in regions[0]) < (tmp_path / f"a{suffix}").stat().st_size / 2
    assert set(_ids(table)) == _truth(spans, "exec-c")


def test_a_wrong_id_reads_no_record(tmp_path, suffix, monkeypatch):
    _write(tmp_path / f"a{suffix}", _spans(), 3)
    read_store(tmp_path, "exec-a")  # the index exists
    calls: list[object] = []
    monkeypatch.setattr(LOAD, "decode_store_file", lambda *a: calls.append(a))
    with pytest.raises(NotFound):
        StoreSource(tmp_path).execution("exec-z")
    assert calls == []


def test_spans_appended_after_the_index_are_found(tmp_path, suffix):
    spans = _spans(traces=4)
    half = len(spans) // 2
    path = tmp_path / f"a{suffix}"
    _write(path, spans[:half], 3)
    read_store(tmp_path, "exec-a")
    _write(path, spans[half:], 3)
    for x in EXECS:
        assert set(_ids(_indexed(tmp_path, x))) == _truth(spans, x)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # torn
        lambda p: p.write_bytes(b""),  # empty
        lambda p: p.write_bytes(b"{not json"),
        lambda p: p.write_bytes(b'{"format": "otel-fold store index", "version": 1}'),  # parts missing
        lambda p: p.unlink(),  # missing
    ],
    ids=["torn", "empty", "not-json", "incomplete", "missing"],
)
def test_a_spoilt_index_still_gives_the_right_execution(tmp_path, suffix, spoil):
    spans = _spans()
    _write(tmp_path / f"a{suffix}", spans, 2)
    read_store(tmp_path, "exec-a")
    spoil(tmp_path / f"a{suffix}{INDEX_SUFFIX}")
    for x in EXECS:
        assert set(_ids(_indexed(tmp_path, x))) == _truth(spans, x)


def test_an_index_of_another_file_at_the_same_path_is_not_trusted(tmp_path, suffix):
    """Rotation (a new file renamed into place) and a rewrite in place (same inode, other bytes, even longer)."""
    path = tmp_path / f"a{suffix}"
    _write(path, _spans(("exec-a", "exec-b")), 2)
    read_store(tmp_path, "exec-a")
    rotated = _spans(("exec-c", "exec-b"))
    (tmp_path / "elsewhere").mkdir()
    _write(tmp_path / "elsewhere" / path.name, rotated, 2)
    os.replace(tmp_path / "elsewhere" / path.name, path)
    assert set(_ids(_indexed(tmp_path, "exec-b"))) == _truth(rotated, "exec-b")
    with pytest.raises(NotFound):
        _indexed(tmp_path, "exec-a")
    rewritten = _spans(("exec-a",), traces=6)
    with open(path, "r+b") as f:  # same inode
        f.truncate(0)
    _write(path, rewritten, 1)
    assert set(_ids(_indexed(tmp_path, "exec-a"))) == _truth(rewritten, "exec-a")


def test_where_the_store_cannot_hold_the_index_it_goes_to_the_cache(tmp_path, suffix):
    store, cache = tmp_path / "store", tmp_path / "cache"
    store.mkdir()
    spans = _spans()
    _write(store / f"a{suffix}", spans, 2)
    (store / f"a{suffix}{INDEX_SUFFIX}").mkdir()  # the sidecar's name is taken: it cannot be written
    assert set(_ids(_indexed(store, "exec-b"))) == _truth(spans, "exec-b")
    cached = list((cache / "otel-fold" / "index").iterdir())
    assert len(cached) == 1 and cached[0].suffix == INDEX_SUFFIX
    assert set(_ids(_indexed(store, "exec-c"))) == _truth(spans, "exec-c")  # read back from the cache


def test_a_record_being_written_is_read_but_not_indexed(tmp_path, suffix):
    """A cut-off last record (a writer mid-write or killed) is left out of the index, read and warned about
    by every reader, and indexed once it is whole."""
    spans = _spans()
    path = tmp_path / f"a{suffix}"
    _write(path, spans[:-3], 3)
    last = _record(path, spans[-3:])
    with open(path, "ab") as f:
        f.write(last[: len(last) // 2])
    table = _indexed(tmp_path, "exec-c")
    assert any("truncated" in w for w in table.warnings)
    with open(path, "ab") as f:
        f.write(last[len(last) // 2 :])
    table = _indexed(tmp_path, "exec-c")
    assert set(_ids(table)) == _truth(spans, "exec-c")
    assert not any("truncated" in w for w in table.warnings)


def test_records_the_index_cannot_read_are_read_for_every_execution(tmp_path):
    """A line of an unusual shape (base64 ids) and a damaged line: the first still yields its spans, the
    second its warning, whichever execution is asked for."""
    spans = _spans()
    path = tmp_path / "a.jsonl"
    _write(path, spans, 4)
    odd = encode_json([s for s in spans if (s.attributes or {}).get("exec_id") == "exec-b"][:1])
    span = odd["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["spanId"] = "AAAAAAAAAAE="  # base64 (the decoder reads it; the index's scan does not)
    with open(path, "ab") as f:
        f.write(json.dumps(odd).encode() + b"\n" + b"{broken\n")
    table = _indexed(tmp_path, "exec-b")
    assert "0000000000000001" in set(_ids(table))
    assert any("line" in w and "invalid JSON" in w for w in table.warnings)
    assert any("invalid JSON" in w for w in _indexed(tmp_path, "exec-a").warnings)


def test_damage_between_framed_records_is_warned_on_an_indexed_read(tmp_path):
    spans = _spans()
    path = tmp_path / "a.binpb"
    _write(path, spans[:6], 3)
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x01\x00" + b"\x0a\x05junk")  # a partial record mid-file
    _write(path, spans[6:], 3)
    full = read_store(tmp_path)
    damage = [w for w in full.warnings if "damaged" in w]
    assert damage
    for _ in range(2):  # building the index, then from it
        table = _indexed(tmp_path, "exec-a")
        assert set(_ids(table)) == _truth(spans, "exec-a")
        assert [w for w in table.warnings if "damaged" in w] == damage


_CONCURRENT = """
import sys
from analyzer.execution import select_execution
from analyzer.load import read_store
store, exec_id, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    table = select_execution(read_store(store, exec_id), exec_id, store)
    print(len(table), flush=True)
"""


def test_readers_indexing_while_a_writer_appends_agree_with_a_full_read(tmp_path, suffix):
    """Two reader processes update the one index while this process appends: each reader's answers only
    grow and never exceed the execution, and once writing stops the indexed read equals the full read."""
    spans = _spans(traces=30)
    path = tmp_path / f"a{suffix}"
    _write(path, spans[:6], 3)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT, str(tmp_path), "exec-b", "15"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    for i in range(6, len(spans), 3):
        _write(path, spans[i : i + 3], 3)
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err.decode()
        counts = [int(n) for n in out.split()]
        assert counts == sorted(counts) and counts[-1] <= len(_truth(spans, "exec-b"))
    assert _ids(_indexed(tmp_path, "exec-b")) == _ids(_full(tmp_path, "exec-b"))
    assert set(_ids(_indexed(tmp_path, "exec-b"))) == _truth(spans, "exec-b")


def test_untagged_spans_in_a_file_where_the_execution_is_never_tagged_are_read(tmp_path):
    """A trace's tagged spans in one file, its untagged root in another (a pod's spans, another writer):
    the execution's traces are gathered from every file's index before any file's records are chosen."""
    spans = _spans()
    _write(tmp_path / "a.jsonl", [s for s in spans if s.attributes], 3)
    _write(tmp_path / "b.binpb", [s for s in spans if not s.attributes], 3)
    for x in EXECS:
        assert set(_ids(_indexed(tmp_path, x))) == _truth(spans, x)
