"""Launch plans' child executions fetched by id from the same source, though they live in other traces."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from analyzer.framing import frame
from analyzer.source.executions import child_executions, execution_table
from analyzer.source.local import StoreSource
from flyte_otel import semconv
from tests import builders as B
from tests.builders import MS, Task


def _store(tmp_path: Path, *, with_child: bool) -> Path:
    """A launch plan execution (ex-parent) and its child (ex-child), each trace in its own store file."""
    with B.recording() as rec:
        B.launch_plan(rec, Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS), transition=2 * MS,
                      launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS, node_teardown=5 * MS,
                      setup=1 * MS, teardown=1 * MS)  # fmt: skip
        spans = rec.exporter.get_finished_spans()
    traces: dict[int, list] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id, []).append(span)
    store = tmp_path / "store"
    store.mkdir()
    for i, trace in enumerate(traces.values()):
        exec_ids = {(s.attributes or {}).get(semconv.EXEC_ID) for s in trace}
        if with_child or "ex-parent" in exec_ids:
            (store / f"trace-{i}.binpb").write_bytes(frame(encode_spans(trace).SerializeToString()))
    return store


def test_a_launch_plans_child_is_fetched_by_id_from_another_trace(tmp_path: Path) -> None:
    src = StoreSource(_store(tmp_path, with_child=True))
    parent = execution_table(src, "ex-parent")
    assert "ex-child" not in set(parent.df[semconv.EXEC_ID].dropna())  # the parent's search misses the child
    children = child_executions(src, parent, "ex-parent")
    assert list(children) == ["ex-child"]
    assert set(children["ex-child"].df[semconv.EXEC_ID].dropna()) == {"ex-child"}


def test_a_child_that_cannot_be_found_is_logged_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = StoreSource(_store(tmp_path, with_child=False))
    with caplog.at_level(logging.WARNING, logger="analyzer"):
        assert child_executions(src, execution_table(src, "ex-parent"), "ex-parent") == {}
    assert any("ex-child" in r.getMessage() for r in caplog.records)


def test_each_execution_of_the_store_is_read_through_its_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An execution and its child: each asks the store for its own records (docs/store.md, the index),
    and each is what a full load of the store selects for it."""
    from analyzer.load import load, read_store
    from analyzer.source import local

    store = _store(tmp_path, with_child=True)
    reads: list[tuple[Path, str | None]] = []
    monkeypatch.setattr(
        local,
        "read_store",
        lambda path, exec_id=None: reads.append((path, exec_id)) or read_store(path, exec_id),
    )
    src = StoreSource(store)
    parent = execution_table(src, "ex-parent")
    child_executions(src, parent, "ex-parent")
    assert reads == [(store, "ex-parent"), (store, "ex-child")]
    for exec_id in ("ex-parent", "ex-child"):
        expected = load(store, exec_id=exec_id).df
        got = src.execution(exec_id).df
        assert sorted(got["span_id"]) == sorted(expected["span_id"])


def test_a_file_source_decodes_its_file_once_for_several_executions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.load import load, read
    from analyzer.source import local

    store = _store(tmp_path, with_child=True)
    one_file = tmp_path / "all.binpb"
    one_file.write_bytes(b"".join(p.read_bytes() for p in sorted(store.iterdir())))
    reads: list[Path] = []
    monkeypatch.setattr(local, "read", lambda path: reads.append(path) or read(path))
    src = local.FileSource(one_file)
    for exec_id in ("ex-parent", "ex-child"):
        got = src.execution(exec_id).df
        assert sorted(got["span_id"]) == sorted(load(one_file, exec_id=exec_id).df["span_id"])
    assert reads == [one_file]
