"""The notebook's API: an execution's spans as a pandas DataFrame in the dtypes a notebook wants, and the
reductions (self time, critical path, node segments, report) on a loaded table, no internal import needed.

Each function takes what `analyzer.load` returns (a SpanTable) or what it reads (a store directory, a file,
bytes; None: the default store), and `exec_id` to keep one execution. The reductions keep their own internal
form (numpy, int64 ns); this module only presents it: times as ``datetime64[ns, UTC]``, lengths as
``timedelta64[ns]``. pandas is imported when a function is called (docs/notebook.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from analyzer import table as t
from analyzer.errors import AnalyzerError
from analyzer.execution import Execution, select_execution, stitch
from analyzer.load import load
from analyzer.store.files import default_store
from flyte_otel import semconv as sc

if TYPE_CHECKING:
    import pandas as pd

    from analyzer.results.timeline import ExecutionTimeline

__all__ = ["Spans", "critical_path", "frame", "report", "segments", "self_time"]

# What every function here reads: a loaded table, or what `analyzer.load` reads (None: the default store).
Spans = t.SpanTable | str | os.PathLike[str] | bytes | None

_TIMES = {t.START: "start", t.END: "end"}  # the table's int64 ns columns -> the frame's datetime columns
# Promoted attributes by the kind of their values (flyte_otel/semconv.py); the others are text, categorical.
_INTEGERS = (sc.ATTEMPT_NUMBER, sc.BLOB_SIZE, sc.ETCD_SIZE, sc.ARRAY_SIZE, sc.ARRAY_INDEX)
_FLAGS = (sc.CACHE_HIT,)
_LISTS = (sc.NODE_UPSTREAM,)
# The statistics' columns that are lengths of time (ns in `analyzer.reduce.self_time.statistics`).
_STAT_DURATIONS = ("total", "avg", "min", "max", "self_total", "self_avg", "self_min", "self_max")


def frame(spans: Spans = None, *, exec_id: str | None = None) -> pd.DataFrame:
    """The spans as a DataFrame: one row a span; `start`/`end` datetime64[ns, UTC], `duration` timedelta64[ns],
    repeated text categorical, integer attributes Int64, flags boolean (absent values NA); ids "str";
    `flyte.node.upstream` and `attributes` (the attributes not promoted) objects. ``.attrs["warnings"]``: the
    table's warnings."""
    import pandas as pd

    table = _table(spans, exec_id)
    data: dict[str, Any] = {}
    for name in t.COLUMNS:
        if name in _TIMES:
            data[_TIMES[name]] = _utc(table.column(name))
            if name == t.END:
                data["duration"] = (table.column(t.END) - table.column(t.START)).view("m8[ns]")
        else:
            data[name] = _COLUMN.get(name, _text)(table, name)
    out = pd.DataFrame(data, copy=False)
    out.attrs["warnings"] = list(table.warnings)
    return out


def self_time(spans: Spans = None, *, exec_id: str | None = None, by: str = "name") -> pd.DataFrame:
    """Jaeger UI's Trace Statistics: per `by` (name, service, category, kind, status, a column or an attribute
    key) the spans' count, total/avg/min/max duration and self time (duration less the union of the
    children), as timedelta64[ns], and `percent` (self total over the execution's wall clock, x 100); largest
    self total first."""
    import pandas as pd

    from analyzer.reduce.self_time import statistics

    out = statistics(_stitched(spans, exec_id), by)
    for column in _STAT_DURATIONS:
        out[column] = pd.to_timedelta(out[column].round(), unit="ns")
    return out


def critical_path(
    spans: Spans = None, *, exec_id: str | None = None, over: Literal["workflow", "spans"] = "workflow"
) -> pd.DataFrame:
    """The critical path, one row a section, in time order, tiling the execution.

    ``over="workflow"`` (the report's): through the workflow's DAG, each time into the upstream that finished
    last; columns node ("" for the workflow's own), segment, category (flyte, scheduling, k8s, user, ...),
    start, end, duration. Needs flyte_otel's lifecycle records. ``over="spans"`` (Jaeger UI's and CRISP's):
    through the span tree; columns span_id, name, service, node, start, end, duration.
    """
    if over == "spans":
        return _span_path(_stitched(spans, exec_id))
    from analyzer.reduce.critical_path import workflow_critical_path
    from analyzer.results.timeline import SEGMENT_CATEGORY

    sections = workflow_critical_path(_timeline(spans, exec_id))
    return _sections(
        [(s.node, s.segment, SEGMENT_CATEGORY[s.segment], s.start, s.end) for s in sections],
        ("node", "segment", "category"),
    )


def segments(spans: Spans = None, *, exec_id: str | None = None) -> pd.DataFrame:
    """Every node's life cut into segments (docs/lifecycle.md), one row a section: the workflow's own
    (node "") first, then each node's wait and its sections, parents before children; columns node, kind,
    segment, category, start, end, duration. Needs flyte_otel's lifecycle records."""
    from analyzer.results.timeline import SEGMENT_CATEGORY

    tl = _timeline(spans, exec_id)
    rows = [("", "workflow", s.segment, s.start, s.end) for s in tl.sections]
    for node in tl.nodes.values():
        rows += [
            (node.node_id, node.kind, s.segment, s.start, s.end) for s in (*node.waiting, *node.sections)
        ]
    return _sections(
        [(n, k, seg, SEGMENT_CATEGORY[seg], s, e) for n, k, seg, s, e in rows],
        ("node", "kind", "segment", "category"),
    )


def report(spans: Spans = None, *, exec_id: str | None = None) -> dict[str, Any]:
    """The execution's report, as `otel-fold report --json` holds it under the execution's key (README,
    "The report"): durations in ns, shares as fractions."""
    from analyzer.reduce.report import run_report

    table = _stitched(spans, exec_id).table
    return run_report(table, _children(spans, table, exec_id))


def _table(spans: Spans, exec_id: str | None) -> t.SpanTable:
    if not isinstance(spans, t.SpanTable):
        return load(spans, exec_id=exec_id)
    return spans if exec_id is None else select_execution(spans, exec_id)


def _stitched(spans: Spans, exec_id: str | None) -> Execution:
    """The spans as one tree, as every command stitches them (a span delivered twice kept once)."""
    return stitch(_table(spans, exec_id), exec_id)


def _children(spans: Spans, table: t.SpanTable, exec_id: str | None) -> dict[str, t.SpanTable]:
    """The launch plans' child executions that `table` names, read from where `spans` came from (their spans
    are in traces of their own), as `otel-fold report` reads them; one not found is left out."""
    from analyzer.source.executions import child_executions

    if isinstance(spans, t.SpanTable | bytes):
        return child_executions(_Loaded(spans), table, exec_id)
    from analyzer.source.local import FileSource, StoreSource

    path = Path(spans) if spans is not None else default_store()
    return child_executions(StoreSource(path) if path.is_dir() else FileSource(path), table, exec_id)


class _Loaded:
    """Spans in memory, as what `child_executions` reads children from; bytes are decoded only when a child
    is looked for (most executions start none)."""

    def __init__(self, spans: t.SpanTable | bytes) -> None:
        self._spans = spans

    def execution(self, exec_id: str) -> t.SpanTable:
        if not isinstance(self._spans, t.SpanTable):
            self._spans = load(self._spans)
        return select_execution(self._spans, exec_id)


def _timeline(spans: Spans, exec_id: str | None) -> ExecutionTimeline:
    from analyzer.reduce.segments import node_timelines

    table = _stitched(spans, exec_id).table
    tl = node_timelines(table, _children(spans, table, exec_id))
    if not tl.lifecycle:
        raise AnalyzerError(
            f"execution {tl.exec_id or '?'}: no flyte_otel lifecycle records (upstream FlytePropeller), so no"
            " node segments and no workflow critical path; critical_path(..., over='spans') and frame() show"
            " what the trace has"
        )
    return tl


def _span_path(ex: Execution) -> pd.DataFrame:
    from analyzer.reduce.critical_path import span_critical_path
    from analyzer.reduce.nodes import enclosing_nodes

    path = span_critical_path(ex)
    rows = np.array([s.row for s in path], dtype=np.int64)
    out = _sections([(s.span_id, s.start, s.end) for s in path], ("span_id",))
    for name, values in (
        (t.NAME, ex.table.column(t.NAME)),
        (t.SERVICE, ex.table.column(t.SERVICE)),
        (sc.NODE_ID, enclosing_nodes(ex)),  # gRPC event spans name no node: the enclosing handleNode's
    ):
        out.insert(len(out.columns) - 3, name, _categorical(values[rows]))
    return out


def _sections(rows: list[tuple[Any, ...]], labels: tuple[str, ...]) -> pd.DataFrame:
    """Rows of (labels..., start ns, end ns) as a frame: the labels categorical, then start, end, duration."""
    import pandas as pd

    table = np.array(rows, dtype=object).reshape(len(rows), len(labels) + 2)
    start, end = table[:, -2].astype(np.int64), table[:, -1].astype(np.int64)
    data: dict[str, Any] = {label: _label(label, table[:, i]) for i, label in enumerate(labels)}
    data.update(start=_utc(start), end=_utc(end), duration=(end - start).view("m8[ns]"))
    return pd.DataFrame(data)


def _label(name: str, values: np.ndarray) -> pd.Categorical:
    """A label column; `segment` ordered as segments follow each other in a node's life, so that sorting by it
    or pivoting on it keeps that order."""
    import pandas as pd

    from analyzer.results.timeline import SEGMENTS

    if name == "segment":
        return pd.Categorical(values, categories=SEGMENTS, ordered=True)
    return _categorical(values)


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    import pandas as pd

    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def _categorical(values: np.ndarray) -> pd.Categorical:
    """A Categorical of an object array (categories sorted, None missing), coded as the table codes."""
    import pandas as pd

    coded = t.Coded.factorize(values, sort=True)
    return pd.Categorical.from_codes(coded.codes, categories=list(coded.categories))


def _ids(table: t.SpanTable, name: str) -> Any:
    import pandas as pd

    return pd.array(table.ids(name), dtype="str")  # Arrow strings stay Arrow: no Python string per span


def _coded(table: t.SpanTable, name: str) -> pd.Categorical:
    import pandas as pd

    coded = table.codes(name)
    return pd.Categorical.from_codes(coded.codes, categories=list(coded.categories))


def _text(table: t.SpanTable, name: str) -> pd.Categorical:
    return _categorical(table.column(name))


def _objects(table: t.SpanTable, name: str) -> pd.Series:
    import pandas as pd

    return pd.Series(table.column(name), dtype=object, copy=False)


def _typed(*dtypes: str) -> Callable[[t.SpanTable, str], Any]:
    """The column in the first of `dtypes` (nullable pandas dtypes) that holds every value; as objects if
    none does (e.g. another producer's text where flyte_otel writes a number), so nothing is lost."""

    def convert(table: t.SpanTable, name: str) -> Any:
        import pandas as pd

        values = table.column(name)
        for dtype in dtypes:
            try:
                return pd.array(values, dtype=dtype)
            except (TypeError, ValueError):
                continue
        return pd.Series(values, dtype=object, copy=False)

    return convert


# How each column of the table becomes the frame's (text attributes not named here: `_text`, categorical).
_COLUMN: dict[str, Callable[[t.SpanTable, str], Any]] = {
    **dict.fromkeys((t.TRACE_ID, t.SPAN_ID, t.PARENT_ID), _ids),
    **dict.fromkeys((t.SERVICE, t.NAME, t.KIND, t.STATUS, t.REF_TYPE, t.CATEGORY), _coded),
    **dict.fromkeys(_INTEGERS, _typed("Int64", "Float64")),
    **dict.fromkeys(_FLAGS, _typed("boolean")),
    **dict.fromkeys((*_LISTS, t.ATTRIBUTES), _objects),
}
