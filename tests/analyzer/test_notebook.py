"""The notebook's API (analyzer.frame, self_time, critical_path, segments, report): the spans as a DataFrame in
the dtypes a notebook wants, and the reductions from a loaded table or a store, with known ground truth and
as the command line computes them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import analyzer
import flyte_otel as fo
from analyzer import table as t
from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.execution import stitch
from analyzer.reduce.self_time import statistics
from flyte_otel import semconv as sc
from tests import builders as B
from tests.analyzer.source.test_source_executions import _store
from tests.builders import MS, T0, Task

TASKS = (
    Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, task_teardown=2 * MS),
    Task(transition=2 * MS, node_setup=1 * MS, task_setup=4 * MS, runtime=30 * MS, node_teardown=1 * MS),
)
SETUP, TEARDOWN = 5 * MS, 4 * MS
END = T0 + SETUP + sum(x.transition + x.duration for x in TASKS) + TEARDOWN


@pytest.fixture(scope="module")
def chain() -> t.SpanTable:
    """start-node -> n0 -> n1 -> end-node, every segment's length known."""
    return B.build(B.chain, TASKS, setup=SETUP, teardown=TEARDOWN)


def test_frame_has_times_as_utc_datetimes_and_lengths_as_timedeltas(chain: t.SpanTable) -> None:
    df = analyzer.frame(chain)
    assert len(df) == len(chain)
    assert (str(df["start"].dtype), str(df["end"].dtype)) == ("datetime64[ns, UTC]",) * 2
    assert str(df["duration"].dtype) == "timedelta64[ns]"
    assert df["start"].min() == pd.Timestamp(T0, unit="ns", tz="UTC") and df["end"].max().value == END
    assert (df["start"].astype("int64").to_numpy() == chain.column(t.START)).all()
    assert (df["duration"] == df["end"] - df["start"]).all()
    assert "start_ns" not in df and "end_ns" not in df


def test_frame_makes_repeated_text_categorical_and_numbers_nullable(chain: t.SpanTable) -> None:
    df = analyzer.frame(chain)
    for column in (sc.EXEC_ID, sc.NODE_ID, sc.PHASE, t.NAME, t.SERVICE, t.CATEGORY, sc.NODE_KIND):
        assert isinstance(df[column].dtype, pd.CategoricalDtype), column
    assert set(df[sc.NODE_ID].dropna()) == {"start-node", "n0", "n1", "end-node"}
    attempts = df[sc.ATTEMPT_NUMBER]
    assert str(attempts.dtype) == "Int64"
    assert attempts.notna().sum() == (df[t.NAME].isin([sc.ATTEMPT, sc.USER_CODE])).sum()
    assert set(attempts.dropna()) == {0}
    assert str(df[sc.CACHE_HIT].dtype) == "boolean" and str(df[sc.BLOB_SIZE].dtype) == "Int64"
    assert df.attrs["warnings"] == chain.warnings


def test_frame_keeps_values_that_fit_no_number_dtype() -> None:
    n = 3
    table = t.SpanTable.from_columns(
        {
            t.SPAN_ID: [f"{i:016x}" for i in range(1, n + 1)],
            t.TRACE_ID: ["a" * 32] * n,
            t.START: [0, 1, 2],
            t.END: [5, 6, 7],
            sc.ETCD_SIZE: [10, None, 2**40],
            sc.ARRAY_SIZE: [2.5, None, 3],  # not integers: Float64
            sc.ATTEMPT_NUMBER: [1, "second", None],  # another producer's text: kept as it is
            sc.CACHE_HIT: [True, None, False],
        }
    )
    df = analyzer.frame(table)
    assert str(df[sc.ETCD_SIZE].dtype) == "Int64" and df[sc.ETCD_SIZE].tolist() == [10, pd.NA, 2**40]
    assert str(df[sc.ARRAY_SIZE].dtype) == "Float64" and df[sc.ARRAY_SIZE].tolist() == [2.5, pd.NA, 3.0]
    assert df[sc.ATTEMPT_NUMBER].dtype == object and df[sc.ATTEMPT_NUMBER].tolist() == [1, "second", None]
    assert str(df[sc.CACHE_HIT].dtype) == "boolean" and df[sc.CACHE_HIT].tolist() == [True, pd.NA, False]


def test_functions_read_a_store_and_by_default_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, with_child=True)
    named = analyzer.frame(store, exec_id="ex-parent")
    assert set(named[sc.EXEC_ID].dropna()) == {"ex-parent"}
    monkeypatch.setenv("OTEL_FOLD_STORE", str(store))
    pd.testing.assert_frame_equal(analyzer.frame(exec_id="ex-parent"), named)
    assert set(analyzer.frame()[sc.EXEC_ID].dropna()) == {"ex-parent", "ex-child"}


def test_self_time_is_jaeger_uis_statistics_in_timedeltas(chain: t.SpanTable) -> None:
    stats = analyzer.self_time(chain)
    assert stats.index.name == "name" and str(stats["self_total"].dtype) == "timedelta64[ns]"
    internal = statistics(stitch(chain), "name")
    assert (stats["self_total"].astype("int64") == internal["self_total"]).all()
    # user code has no children: its self time is the tasks' runtime, as recorded
    runtime = sum(x.runtime for x in TASKS)
    assert stats.loc[sc.USER_CODE, "self_total"] == pd.Timedelta(runtime, unit="ns")
    assert list(analyzer.self_time(chain, by="category").index) == list(
        statistics(stitch(chain), "category").index
    )


def test_critical_path_over_the_workflow_tiles_it_and_charges_the_user_code(chain: t.SpanTable) -> None:
    path = analyzer.critical_path(chain)
    assert list(path.columns) == ["node", "segment", "category", "start", "end", "duration"]
    assert path["start"].iloc[0].value == T0 and path["end"].iloc[-1].value == END
    assert (path["start"].iloc[1:].to_numpy() == path["end"].iloc[:-1].to_numpy()).all()  # no gap, no overlap
    by_category = path.groupby("category", observed=True)["duration"].sum()
    assert by_category["user"] == pd.Timedelta(sum(x.runtime for x in TASKS), unit="ns")
    report = analyzer.report(chain)
    assert by_category["user"].value / (END - T0) == pytest.approx(report["userCode"])


def test_critical_path_over_spans_tiles_each_root(chain: t.SpanTable) -> None:
    path = analyzer.critical_path(chain, over="spans")
    assert list(path.columns) == ["span_id", "name", "service", "node", "start", "end", "duration"]
    assert path["start"].iloc[0].value == T0 and path["end"].iloc[-1].value == END  # one root: the execution
    assert (path["start"].iloc[1:].to_numpy() == path["end"].iloc[:-1].to_numpy()).all()
    assert sc.USER_CODE in set(path["name"])


def test_segments_are_each_nodes_known_lengths(chain: t.SpanTable) -> None:
    seg = analyzer.segments(chain)
    assert list(seg.columns) == ["node", "kind", "segment", "category", "start", "end", "duration"]
    workflow = seg[seg["node"] == ""].set_index("segment")["duration"]
    assert workflow["WORKFLOW_SETUP"].value == SETUP and workflow["WORKFLOW_TEARDOWN"].value == TEARDOWN
    for i, task in enumerate(TASKS):
        mine = seg[seg["node"] == f"n{i}"]
        assert set(mine["kind"]) == {sc.NodeKind.TASK}
        got = mine.groupby("segment", observed=True)["duration"].sum()
        assert {k: v.value for k, v in got.items()} == task.segments()


def test_report_is_the_command_lines_with_the_launch_plans_child(tmp_path: Path) -> None:
    store = _store(tmp_path, with_child=True)
    out = tmp_path / "report.json"
    assert main(["report", "ex-parent", "--store", str(store), "--json", "-o", str(out)]) == 0
    (body,) = json.loads(out.read_text()).values()
    del body["method"]
    from_store = analyzer.report(store, exec_id="ex-parent")
    assert json.loads(json.dumps(from_store)) == body
    # a table of the whole store: the child is found in it, as the command line finds it in the store
    assert analyzer.report(analyzer.load(store), exec_id="ex-parent") == from_store
    nodes = {key for node in from_store["nodes"] for key in node}
    assert "n0/n0" in nodes  # the child execution's task, under the launch plan node


def test_without_lifecycle_records_segments_say_why_and_the_span_path_remains() -> None:
    with B.recording(one_trace=False) as rec:
        with fo.round("ex-up", start=T0, end=T0 + 3 * MS):  # upstream's kind of trace: operations only
            pass
        table = rec.table()
    with pytest.raises(AnalyzerError, match="no flyte_otel lifecycle records.*over='spans'"):
        analyzer.segments(table)
    with pytest.raises(AnalyzerError, match="no flyte_otel lifecycle records"):
        analyzer.critical_path(table)
    path = analyzer.critical_path(table, over="spans")
    assert list(path["name"]) == [sc.ROUND] and path["duration"].iloc[0] == pd.Timedelta(3 * MS, unit="ns")
