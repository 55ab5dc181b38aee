"""Self time and trace statistics, as Jaeger UI's Trace Statistics computes them.

Self time of a span = its duration minus the *union* of its children's intervals clipped to the span, so
children running in parallel are counted once (summing child durations over-counts them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer import table as t
from analyzer.errors import AnalyzerError
from analyzer.execution import Execution

__all__ = ["GROUP_ALIASES", "self_time", "statistics"]

# Names accepted for the group-by key besides any column or attribute key: Jaeger UI's labels, and the
# OpenTelemetry names users type for what the table holds as a column (service.name is a resource
# attribute, span.kind the tag Jaeger writes for the kind).
GROUP_ALIASES: dict[str, str] = {
    "service": t.SERVICE,
    "service.name": t.SERVICE,
    "operation": t.NAME,
    "name": t.NAME,
    "span.name": t.NAME,
    "kind": t.KIND,
    "span.kind": t.KIND,
    "status": t.STATUS,
    "otel.status_code": t.STATUS,
    "category": t.CATEGORY,
}
_NOT_KEYS = frozenset((t.START, t.END, t.ATTRIBUTES))  # columns that are not a grouping


def self_time(ex: Execution) -> np.ndarray:
    """Self time in ns of every span (by table row): duration minus the union of its children, clipped to it."""
    start = ex.table.df[t.START].to_numpy(dtype=np.int64)
    end = ex.table.df[t.END].to_numpy(dtype=np.int64)
    parent = ex.parent_index
    kids = np.flatnonzero(parent >= 0)
    p = parent[kids]
    lo = np.maximum(start[kids], start[p])
    hi = np.minimum(end[kids], end[p])
    inside = hi > lo
    kids, p, lo, hi = kids[inside], p[inside], lo[inside], hi[inside]
    by = np.lexsort((lo, p))
    p, lo, hi = p[by], lo[by], hi[by]
    # Sorted by start within each parent, the union grows by whatever part of an interval lies past the
    # furthest end seen so far among that parent's earlier children.
    reach = pd.Series(hi).groupby(p).cummax().to_numpy()
    first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, dtype=bool)
    before = np.where(first, np.iinfo(np.int64).min, np.r_[np.int64(0), reach[:-1]])
    covered = np.maximum(hi - np.maximum(lo, before), 0)
    children = np.zeros(len(start), dtype=np.int64)
    np.add.at(children, p, covered)
    return np.asarray((end - start) - children)


def statistics(ex: Execution, by: str = "service") -> pd.DataFrame:
    """Jaeger UI's Trace Statistics grouped by ``by`` (service, name, category, a column or an attribute key).

    Durations are in ns; ``percent`` is self total / (latest end - earliest start) x 100.
    """
    df = ex.table.df
    dur = (df[t.END] - df[t.START]).to_numpy(dtype=np.int64)
    own = self_time(ex)
    frame = pd.DataFrame({"key": _group_key(df, by), "dur": dur, "own": own})
    g = frame.groupby("key", sort=False, observed=True, dropna=False)
    out = pd.DataFrame(
        {
            "count": g["dur"].size(),
            "total": g["dur"].sum(),
            "avg": g["dur"].mean(),
            "min": g["dur"].min(),
            "max": g["dur"].max(),
            "self_total": g["own"].sum(),
            "self_avg": g["own"].mean(),
            "self_min": g["own"].min(),
            "self_max": g["own"].max(),
        }
    )
    span = ex.end_ns - ex.start_ns
    out["percent"] = out["self_total"] / span * 100 if span > 0 else 0.0
    out.index.name = by
    return out.sort_values("self_total", ascending=False, kind="stable")


def _group_key(df: pd.DataFrame, by: str) -> pd.Series:
    column = GROUP_ALIASES.get(by, by)
    if column in df.columns and column not in _NOT_KEYS:
        return df[column].astype(object).fillna("")
    # Not promoted to a column: read it from each span's remaining attributes.
    attributes = df[t.ATTRIBUTES]
    keys = _attribute_keys(attributes)
    if by not in keys:
        columns = [c for c in df.columns if c not in _NOT_KEYS and c not in GROUP_ALIASES.values()]
        valid = [*GROUP_ALIASES, *columns, *sorted(keys)]
        raise AnalyzerError(
            f"--stats: no column or attribute {by!r} in these spans; one of: {', '.join(valid)}"
        )
    return attributes.map(lambda a: "" if not a or by not in a else str(a[by])).astype(object)


def _attribute_keys(attributes: pd.Series) -> set[str]:
    """Every attribute key of the spans (rows with equal attributes share one dict: each is read once)."""
    distinct = {id(a): a for a in attributes if a}
    return {str(k) for a in distinct.values() for k in a}
