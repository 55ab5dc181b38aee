"""Listing executions (`Source.executions`) on each source, and the suggestions a wrong id gets.

The store and the file are written by flyte_otel's own file exporter on a virtual clock; Tempo and Jaeger are
loopback fakes answering in their documented shapes. Every expected id, start, duration, span count and place
is known from how the executions were built (the spans are counted by the SDK's in-memory copy of what was
written), never from running the analyzer.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from source_loopback import (
    MS,
    ROUND_SPANS,
    T0,
    FakeJaegerV1,
    FakeTempo,
    Loopback,
    Reply,
    fixture_bytes,
    jaeger_v1_trace,
    json_bytes,
    remote_config,
    round_traces,
    rounds_listed,
)

from analyzer.errors import BackendError, NotFound
from analyzer.execution import select_execution
from analyzer.results.listing import ExecutionSummary
from analyzer.source import listing
from analyzer.source.executions import named_execution
from analyzer.source.jaeger import JaegerSource
from analyzer.source.local import FileSource, StoreSource
from analyzer.source.tempo import TempoSource
from analyzer.table import SpanTable
from tests.builders import MID, NEW, NOWF, OLD, Builder, Task, Written, write_store, writing_to

S = 10**9
HOUR = 3600 * S  # source_loopback's window: T0 +- HOUR
LOAD = importlib.import_module("analyzer.load")  # the module (the package's `analyzer.load` is its function)
TYPO = NEW[:3] + NEW[4] + NEW[3] + NEW[5:]  # two characters of NEW swapped
TASK = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, node_teardown=1 * MS)


# --- the store and the file, written by flyte_otel's file exporter ---------------------------------------
@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Written]:
    directory = tmp_path / "store"
    return directory, write_store(directory)


def test_the_store_lists_every_execution_newest_first_with_its_files(written: tuple[Path, Written]) -> None:
    directory, w = written
    assert StoreSource(directory).executions() == [w.expected(e) for e in (NEW, NOWF, MID, OLD)]


def test_the_store_listing_reads_only_what_the_indexes_do_not_cover(
    written: tuple[Path, Written], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, w = written
    src = StoreSource(directory)
    first = src.executions()  # scans the files: their indexes are written
    reads: list[object] = []
    real = LOAD.decode_store_file
    monkeypatch.setattr(LOAD, "decode_store_file", lambda *a: (reads.append(a), real(*a)))
    assert src.executions() == first == [w.expected(e) for e in (NEW, NOWF, MID, OLD)]
    assert reads == []  # every record is covered by an index: none is decoded
    memory = InMemorySpanExporter()
    with writing_to(directory / "a.jsonl", memory) as rec:  # appended: the next scan indexes it
        late = Builder(rec, "late-execution", setup=1 * MS, start=T0 + 40 * S)
        late.task("n0", TASK)
        end = late.finish(teardown=2 * MS)
    with (directory / "b.jsonl").open("ab") as f:  # base64 ids: the decoder reads them, the index's scan not
        f.write(json.dumps(_odd_record("odd-execution", T0 + 50 * S, T0 + 50 * S + 3 * MS)).encode() + b"\n")
    odd, late_one, *rest = src.executions()
    assert (odd.exec_id, odd.start_ns, odd.end_ns, odd.spans) == (
        "odd-execution",
        T0 + 50 * S,
        T0 + 50 * S + 3 * MS,
        1,
    )
    assert (late_one.exec_id, late_one.start_ns, late_one.end_ns, late_one.spans) == (
        "late-execution",
        T0 + 40 * S,
        end,
        len(memory.get_finished_spans()),
    )
    assert rest == first and len(reads) == 1  # only the record the index could not read was decoded


def _odd_record(exec_id: str, start: int, end: int) -> dict[str, Any]:
    """One OTLP/JSON line with base64 ids (as protobuf's JSON mapping writes bytes)."""
    span = {
        "traceId": "AAAAAAAAAAAAAAAAAAAAAQ==",
        "spanId": "AAAAAAAAAAE=",
        "name": "odd",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": [{"key": "exec_id", "value": {"stringValue": exec_id}}],
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_a_wrong_id_reads_no_record_to_name_the_nearest_and_newest(
    written: tuple[Path, Written], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _ = written
    StoreSource(directory).executions()  # the indexes exist
    reads: list[object] = []
    monkeypatch.setattr(LOAD, "decode_store_file", lambda *a: reads.append(a))
    with pytest.raises(NotFound, match=f"nearest: {NEW}; newest: {NEW}"):
        named_execution(StoreSource(directory), TYPO)
    assert reads == []


def test_an_execution_counts_the_untagged_spans_of_its_trace_in_another_file(
    written: tuple[Path, Written],
) -> None:
    directory, w = written
    (old,) = [e for e in StoreSource(directory).executions() if e.exec_id == OLD]
    pod = sum(1 for s in w.memory.get_finished_spans() if "exec_id" not in (s.attributes or {}))
    assert pod >= 4  # the pod's spans carry no exec_id: they belong through the trace only
    assert old.spans == w.spans(OLD) and str(directory / "c.jsonl") in old.where


def test_the_store_listing_agrees_with_what_a_full_read_selects(written: tuple[Path, Written]) -> None:
    directory, _ = written
    everything = LOAD.read_store(directory)
    for e in StoreSource(directory).executions():
        table = select_execution(everything, e.exec_id)
        assert (e.spans, e.start_ns, e.end_ns) == (
            len(table),
            int(table.df["start_ns"].min()),
            int(table.df["end_ns"].max()),
        )


def test_an_indexed_fold_reads_its_traces_untagged_spans_in_other_files(
    written: tuple[Path, Written],
) -> None:
    directory, w = written
    assert len(StoreSource(directory).execution(OLD)) == w.spans(OLD)


def test_a_file_lists_its_executions_at_its_own_path(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    path = tmp_path / "one.jsonl"
    with writing_to(path, memory) as rec:
        first = Builder(rec, OLD, setup=1 * MS, start=T0)
        first.task("n0", TASK)
        end_old = first.finish(teardown=2 * MS)
        second = Builder(rec, NEW, setup=1 * MS, start=T0 + S)
        second.task("n0", TASK)
        end_new = second.finish(teardown=2 * MS)
    w = Written(
        memory, {OLD: (T0, end_old, "wf"), NEW: (T0 + S, end_new, "wf")}, {OLD: {str(path)}, NEW: {str(path)}}
    )
    assert FileSource(path).executions() == [w.expected(NEW), w.expected(OLD)]


def test_an_empty_store_and_a_missing_one_are_one_line_not_found(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound) as e:
        StoreSource(tmp_path / "empty").executions()
    assert str(e.value) == f"{tmp_path / 'empty'}: no execution (no span has an exec_id)"
    with pytest.raises(NotFound, match=r"^no trace store at .*missing \(give --store DIR"):
        StoreSource(tmp_path / "missing").executions()


# --- a wrong id -------------------------------------------------------------------------------------------
def test_a_wrong_id_names_the_nearest_and_the_newest_ids(written: tuple[Path, Written]) -> None:
    directory, _ = written
    typo = OLD[:-1] + "9"  # one character off OLD and MID: the newer first
    with pytest.raises(NotFound) as e:
        named_execution(StoreSource(directory), typo)
    assert str(e.value) == (
        f"{directory}: no span has exec_id={typo!r}; nearest: {MID}, {OLD}; "
        f"newest: {NEW}, {NOWF}, {MID} (of 4: otel-fold list shows them all)"
    )


def test_an_id_near_none_names_the_newest_only(written: tuple[Path, Written]) -> None:
    directory, _ = written
    with pytest.raises(NotFound) as e:
        named_execution(StoreSource(directory), "qqqqqqqqqqqqqqqqqqqq")
    assert str(e.value).endswith(f"; newest: {NEW}, {NOWF}, {MID} (of 4: otel-fold list shows them all)")
    assert "nearest" not in str(e.value)


def test_a_found_id_is_the_execution_itself(written: tuple[Path, Written]) -> None:
    directory, w = written
    assert len(named_execution(StoreSource(directory), NEW)) == w.spans(NEW)


def test_a_missing_store_is_said_once(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as e:
        named_execution(StoreSource(tmp_path / "missing"), OLD)
    assert str(e.value) == (
        f"execution {OLD}: no trace store at {tmp_path / 'missing'} "
        "(give --store DIR, --file PATH or set $OTEL_FOLD_STORE)"
    )


def test_the_nearest_are_difflibs_close_matches_the_newest_come_first() -> None:
    def at(exec_id: str, start: int) -> ExecutionSummary:
        return ExecutionSummary(exec_id, None, start, start + 1, 1, ("x",))

    listed = [at("exec-c", 3), at("exec-b", 2), at("other", 1)]
    assert listing.hint("exec-bb", listed) == "nearest: exec-b, exec-c; newest: exec-c, exec-b, other"
    assert listing.hint("x", []) == "no span there has an exec_id at all"


# --- Tempo ------------------------------------------------------------------------------------------------
def tempo(url: str, **kw: Any) -> TempoSource:
    return TempoSource(remote_config(url, **{"retries": 0, **kw}))


ROUNDS = {OLD: 2, NOWF: 1, NEW: 3}
NO_WF: dict[str, str | None] = {NOWF: None}


def test_tempo_lists_the_executions_of_its_round_traces(server: Loopback) -> None:
    FakeTempo(server, round_traces(ROUNDS, workflows=NO_WF))
    assert tempo(server.url).executions() == rounds_listed(ROUNDS, server.url, NO_WF)


def test_tempo_listing_sends_traceql_for_the_newest_spans_with_an_exec_id_in_the_window(
    server: Loopback,
) -> None:
    FakeTempo(server, round_traces({"exec-x": 1}))
    tempo(server.url, limit=40).executions()
    first, second = (r.query for r in server.requests)
    assert first["q"] == "{ span.exec_id != nil } | select(span.exec_id) with (most_recent=true)"
    assert second["q"] == "{ span.wf != nil } | select(span.exec_id, span.wf) with (most_recent=true)"
    for q in (first, second):
        assert (q["start"], q["end"], q["limit"], q["spss"]) == (
            str((T0 - HOUR) // S),
            str((T0 + HOUR) // S),
            "40",
            "1",
        )


def test_tempo_listing_widens_a_full_search_and_warns_at_the_cap(
    server: Loopback, caplog: pytest.LogCaptureFixture
) -> None:
    FakeTempo(server, round_traces({"exec-many": 5}))
    with caplog.at_level(logging.WARNING):
        (found,) = tempo(server.url, limit=2, max_limit=4).executions()
    assert [r.query["limit"] for r in server.requests] == [
        "2",
        "4",
        "4",
    ]  # then the workflow search at the cap
    assert found.spans == 4 * ROUND_SPANS  # the newest 4 of 5 rounds
    assert "Tempo search for spans with an exec_id returned its limit of 4 traces" in caplog.text


def test_tempo_documented_answer_without_service_stats_lists_an_unknown_span_count(server: Loopback) -> None:
    doc = json.loads(fixture_bytes("tempo_docs_search_response.tempo-search.json"))
    trace = doc["traces"][0]
    for ss in [trace["spanSet"], *trace["spanSets"]]:
        ss["spans"][0]["attributes"].append({"key": "exec_id", "value": {"stringValue": "exec-doc"}})
    server.on("/api/search", Reply(body=json_bytes(doc)))
    start = 1694718625557000000  # the documented trace: its start, and 10000 ms long
    assert tempo(server.url).executions() == [
        ExecutionSummary("exec-doc", None, start, start + 10_000 * MS, None, (server.url,))
    ]


def test_tempo_with_nothing_in_the_window_is_not_found(server: Loopback) -> None:
    FakeTempo(server, {})
    with pytest.raises(NotFound) as e:
        tempo(server.url).executions()
    assert str(e.value) == (
        f"searched Tempo at {server.url} for spans with an exec_id between "
        "2025-12-31T23:00:00Z and 2026-01-01T01:00:00Z: 0 traces"
    )


def test_tempo_wrong_id_names_the_nearest_and_newest(server: Loopback) -> None:
    FakeTempo(server, round_traces(ROUNDS))
    with pytest.raises(NotFound) as e:
        named_execution(tempo(server.url), TYPO)
    assert str(e.value).endswith(f"0 traces; nearest: {NEW}; newest: {NEW}, {NOWF}, {OLD}")


def test_tempo_not_a_search_answer_is_a_backend_error(server: Loopback) -> None:
    server.on("/api/search", Reply(body=b'{"traces": [{"spanSets": 3}]}'))
    with pytest.raises(BackendError, match="not a Tempo search response"):
        tempo(server.url).executions()


def test_an_unreachable_tempo_is_one_backend_error(refused_url: str) -> None:
    with pytest.raises(BackendError, match=r"^cannot connect to http://127\.0\.0\.1:\d+/api/search\?"):
        tempo(refused_url).executions()


# --- Jaeger -----------------------------------------------------------------------------------------------
def jaeger(url: str, **kw: Any) -> JaegerSource:
    return JaegerSource(remote_config(url, **{"retries": 0, **kw}), sleep=lambda _: None)


def _jaeger_traces(rounds: dict[str, int], workflows: dict[str, str | None]) -> list[dict[str, Any]]:
    return [jaeger_v1_trace(spans) for spans in round_traces(rounds, workflows=workflows).values()]


def test_jaeger_v1_lists_the_executions_of_the_services_traces(server: Loopback) -> None:
    FakeJaegerV1(server, _jaeger_traces(ROUNDS, NO_WF))
    assert jaeger(server.url, jaeger_api="v1").executions() == rounds_listed(ROUNDS, server.url, NO_WF)
    q = server.requests[0].query
    assert (q["service"], q["start"], q["end"]) == (
        "flytepropeller",
        str((T0 - HOUR) // 1000),
        str((T0 + HOUR) // 1000),
    )
    assert "tags" not in q  # every trace of the service: the executions are found here


def test_jaeger_auto_falls_back_to_v1_for_the_listing_too(server: Loopback) -> None:
    FakeJaegerV1(server, _jaeger_traces(ROUNDS, NO_WF))
    assert jaeger(server.url).executions() == rounds_listed(ROUNDS, server.url, NO_WF)
    assert server.paths() == ["/api/v3/traces", "/api/traces"]  # the router's 404, then v1


def test_jaeger_listing_widens_a_full_search(server: Loopback) -> None:
    FakeJaegerV1(server, _jaeger_traces({"exec-many": 5}, {}))
    (found,) = jaeger(server.url, jaeger_api="v1", limit=2).executions()
    assert [r.query["limit"] for r in server.requests] == ["2", "4", "8"]
    assert found.spans == 5 * ROUND_SPANS


def test_jaeger_with_no_execution_is_not_found(server: Loopback) -> None:
    FakeJaegerV1(server, [])
    with pytest.raises(NotFound, match=r"for traces of service flytepropeller between .*: 0 traces, no span"):
        jaeger(server.url, jaeger_api="v1").executions()


def test_jaeger_wrong_id_names_the_nearest_and_newest(server: Loopback) -> None:
    FakeJaegerV1(server, _jaeger_traces(ROUNDS, {}))
    with pytest.raises(NotFound) as e:
        named_execution(jaeger(server.url, jaeger_api="v1"), TYPO)
    assert str(e.value).endswith(f"0 traces; nearest: {NEW}; newest: {NEW}, {NOWF}, {OLD}")


def test_an_unreachable_jaeger_is_one_backend_error(refused_url: str) -> None:
    with pytest.raises(BackendError, match=r"^cannot connect to http://127\.0\.0\.1:\d+/api/traces\?"):
        jaeger(refused_url, jaeger_api="v1").executions()


def test_a_listing_that_fails_leaves_the_not_found_as_it_was(server: Loopback) -> None:
    server.on("/api/traces", Reply(body=json_bytes({"data": [], "total": 0})), Reply(500, b"boom"))
    with pytest.raises(NotFound) as e:
        named_execution(jaeger(server.url, jaeger_api="v1"), "exec-x")
    assert str(e.value).endswith(": 0 traces")


def test_summaries_of_an_empty_table_are_none() -> None:
    assert listing.summaries(SpanTable.empty(), "x") == []
