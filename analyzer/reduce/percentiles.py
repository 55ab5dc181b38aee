"""Orchestration metrics: per span category count, total and exact latency percentiles; per-round counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer import ids as id_columns
from analyzer import table as T
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

__all__ = [
    "METHOD", "PER_PARENT", "QUANTILES", "Stats", "category_durations", "category_stats", "per_round_stats", "stats",
]  # fmt: skip

C = sc.Category
# The percentiles reported, and how they are computed (named in the report's method block).
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)
METHOD = (
    "exact over all samples; linear interpolation between closest ranks "
    "(numpy/pandas 'linear', Hyndman-Fan type 7)"
)


@dataclass(frozen=True)
class Stats:
    """count, sum, p50/p90/p99 and max of some samples (durations in ns, or plain counts)."""

    count: int
    total: float
    p50: float
    p90: float
    p99: float
    max: float


def stats(samples: Sequence[float] | np.ndarray) -> Stats:
    """Stats of one sample set (the reference the grouped fast path must agree with)."""
    a = np.asarray(samples, dtype=np.float64)
    if not len(a):
        return Stats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    p50, p90, p99 = np.percentile(a, [q * 100 for q in QUANTILES])
    return Stats(len(a), float(a.sum()), float(p50), float(p90), float(p99), float(a.max()))


def category_stats(table: SpanTable) -> dict[str, Stats]:
    """Latency stats of every category present (pandas groupby on the categorical column)."""
    df = table.df
    if not len(df):
        return {}
    dur = (df[T.END] - df[T.START]).astype(np.float64)
    g = dur.groupby(df[T.CATEGORY], observed=True, sort=False)
    count, total, mx = g.size(), g.sum(), g.max()
    q = g.quantile(list(QUANTILES)).unstack()
    p50, p90, p99 = QUANTILES
    return {
        str(c): Stats(
            int(count[c]),
            float(total[c]),
            float(q.loc[c, p50]),
            float(q.loc[c, p90]),
            float(q.loc[c, p99]),
            float(mx[c]),
        )  # fmt: skip
        for c in count.index
    }


def category_durations(table: SpanTable) -> dict[str, np.ndarray]:
    """Every span's duration (ns) by category."""
    df = table.df
    if not len(df):
        return {}
    codes = df[T.CATEGORY].cat.codes.to_numpy()
    dur = (df[T.END] - df[T.START]).to_numpy(dtype=np.float64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(df[T.CATEGORY].cat.categories) + 1))
    return {
        str(c): dur[order[bounds[i] : bounds[i + 1]]]
        for i, c in enumerate(df[T.CATEGORY].cat.categories)
        if bounds[i + 1] > bounds[i]
    }


# Per-round shapes: (name, counted category, category of the ancestor it is counted under).
PER_PARENT: tuple[tuple[str, str, str], ...] = (
    ("streaksPerRound", C.STREAK, C.ROUND),
    ("nodesPerStreak", C.NODE_HANDLE, C.STREAK),
    ("etcdWritesPerStreak", C.ETCD_WRITE, C.STREAK),
)


def per_round_stats(table: SpanTable) -> dict[str, Stats]:
    """Counts per enclosing round/streak (zeros included), gaps between rounds (ns), etcd bytes written."""
    df = table.df
    out: dict[str, Stats] = {}
    if not len(df):
        return out
    codes = df[T.CATEGORY].cat.codes.to_numpy()
    code_of = {str(c): i for i, c in enumerate(df[T.CATEGORY].cat.categories)}
    ids, parents = _id_keys(df)
    full: list[np.ndarray] = []  # the whole parent map, built only if some span's parent is not its holder

    def rows(cat: str) -> np.ndarray:
        return np.flatnonzero(codes == code_of[cat]) if cat in code_of else np.empty(0, dtype=np.int64)

    for name, counted, under in PER_PARENT:
        holders = rows(under)
        if not len(holders):
            continue
        members = rows(counted)
        # Fast path: the direct parent is the holder (a streak under its round, handleNode under its streak).
        pos = _lookup(ids[holders], parents[members])
        lost = pos < 0
        if lost.any():
            if not full:
                full.append(_lookup(ids, parents))
            anc = _nearest(full[0], codes, members[lost], code_of[under])
            pos[lost] = np.where(anc >= 0, np.searchsorted(holders, anc), -1)
        out[name] = stats(np.bincount(pos[pos >= 0], minlength=len(holders)))
    rounds = df.iloc[rows(C.ROUND)].sort_values(T.START)
    if len(rounds) > 1:
        gaps = rounds[T.START].to_numpy()[1:] - rounds[T.END].to_numpy()[:-1]
        out["roundGaps"] = stats(np.maximum(gaps, 0))
    sizes = df[sc.ETCD_SIZE].iloc[rows(C.ETCD_WRITE)].dropna()
    if len(sizes):
        out["etcdBytes"] = stats(sizes.astype(np.float64).to_numpy())
    return out


def _id_keys(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Span ids and parent ids as lookup keys: their 64-bit values when every id is 16 hex digits (no Python
    string per span), a root's parent then being a value no span has; else the strings themselves."""
    numbers = id_columns.span_numbers(df[T.SPAN_ID], df[T.PARENT_ID])
    if numbers is not None:
        spans, parents, has_parent = numbers
        if spans.max() < np.iinfo(np.uint64).max:
            parents[~has_parent] = spans.max() + np.uint64(1)
            return spans, parents
    return df[T.SPAN_ID].astype(object).to_numpy(), df[T.PARENT_ID].astype(object).to_numpy()


def _lookup(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Position in `keys` of each query (-1 if absent; the first of repeated keys)."""
    index = pd.Index(keys)
    if index.is_unique:
        return np.asarray(index.get_indexer(queries))
    first = np.flatnonzero(~index.duplicated())
    pos = pd.Index(keys[first]).get_indexer(queries)
    return np.where(pos >= 0, first[np.maximum(pos, 0)], -1)


_MAX_DEPTH = 4096  # bounds the climb if a malformed trace has a parent cycle


def _nearest(parent_row: np.ndarray, cats: np.ndarray, rows: np.ndarray, target: int) -> np.ndarray:
    """Row of each row's nearest ancestor of category `target` (-1 if none), climbing all rows at once."""
    found = np.full(len(rows), -1, dtype=np.int64)
    cur = parent_row[rows]
    for _ in range(_MAX_DEPTH):
        live = (found < 0) & (cur >= 0)
        if not live.any():
            break
        hit = live & (cats[np.where(cur >= 0, cur, 0)] == target)
        found[hit] = cur[hit]
        cur = np.where(live & ~hit, parent_row[np.where(cur >= 0, cur, 0)], -1)
    return found
