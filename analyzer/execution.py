"""One execution: its spans (every trace that holds one of them, taken whole), stitched into one time-ordered tree.

Upstream FlytePropeller starts a new trace per round, so an execution is many traces; flyte_otel's one-trace
mode makes it one. Either way the traces' roots become the top level of one tree, ordered by start time.
Bad structure is repaired and reported as a warning, never dropped silently: a repeated span (same trace and
span id) keeps its first copy, an orphan (parent not present) and one span of each parent cycle are moved
to the top level, and a child outside its parent's interval (clock skew) is kept where it is.

Which spans belong to the execution is decided before (``analyzer.load.select_execution``); here they
become one tree. The tree is index arrays over the rows of ``Execution.table`` (no per-span Python objects): it is built
level by level with numpy, so its cost is O(spans) plus a few numpy calls per level of depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer import table as t
from analyzer.table import SpanTable


@dataclass(frozen=True)
class Execution:
    """An execution's spans (``table``, de-duplicated) and their tree as arrays indexed by table row."""

    exec_id: str | None
    table: SpanTable
    parent_index: np.ndarray  # row of the parent span, -1 for a top-level span (root, orphan, cut cycle)
    depth: np.ndarray  # 0 at the top level
    order: np.ndarray  # rows in pre-order: each span before its children, siblings by start time
    position: np.ndarray  # inverse of `order`: position[row] is the row's place in the pre-order
    subtree_size: np.ndarray  # spans in the row's subtree, itself included: order[position[r]:][:size[r]]
    warnings: list[str]

    def __len__(self) -> int:
        return len(self.parent_index)

    @property
    def start_ns(self) -> int:
        """Start of the earliest span."""
        return int(self.table.df[t.START].min()) if len(self) else 0

    @property
    def end_ns(self) -> int:
        """End of the latest span."""
        return int(self.table.df[t.END].max()) if len(self) else 0


def stitch(table: SpanTable, exec_id: str | None = None) -> Execution:
    """Stitch the spans of ``table`` (e.g. from ``analyzer.load.select_execution``) into one tree, with warnings."""
    label = f"execution {exec_id}" if exec_id else "trace"
    warnings = list(table.warnings)
    df = table.df.reset_index(drop=True)
    n = len(df)
    trace_code = _codes(df[t.TRACE_ID])
    # One factorization of span ids and parent ids together gives both the same integer codes.
    ids = np.concatenate(
        [df[t.SPAN_ID].to_numpy(dtype=object), df[t.PARENT_ID].fillna("").to_numpy(dtype=object)]
    )
    codes, uniques = pd.factorize(ids)
    width = max(len(uniques), 1)
    key = trace_code * width + codes[:n]
    parent_key = trace_code * width + codes[n:]
    has_parent = ids[n:] != ""

    repeated = pd.Series(key).duplicated(keep="first").to_numpy()
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        warnings.append(
            f"{label}: {int(repeated.sum())} repeated span(s) (same trace and span id) kept once,"
            f" e.g. span {df[t.SPAN_ID].iat[first]} in trace {df[t.TRACE_ID].iat[first]}"
        )
        df = df[~repeated].reset_index(drop=True)
        key, parent_key, has_parent = key[~repeated], parent_key[~repeated], has_parent[~repeated]
        ids = np.concatenate([ids[:n][~repeated], ids[n:][~repeated]])
        n = len(df)

    # Parent lookup by binary search over the sorted keys (unique after de-duplication).
    by_key = np.argsort(key, kind="stable")
    at = np.minimum(np.searchsorted(key[by_key], parent_key), max(n - 1, 0))
    found = has_parent & (key[by_key[at]] == parent_key)
    parent = np.where(found, by_key[at], -1).astype(np.int64)
    parent_ids = ids[n:]

    orphans = np.flatnonzero(has_parent & (parent < 0))
    if orphans.size:
        o = int(orphans[0])
        warnings.append(
            f"{label}: {orphans.size} orphan span(s) (parent not present) placed at the top level,"
            f" e.g. span {df[t.SPAN_ID].iat[o]} whose parent {parent_ids[o]} is missing"
        )

    start = df[t.START].to_numpy(dtype=np.int64)
    end = df[t.END].to_numpy(dtype=np.int64)
    levels, bases = _levels(parent, start, end)
    unreached = len(df) - sum(len(lv) for lv in levels)
    if unreached:
        cut = _cut_cycles(parent, start, levels)
        spans = ", ".join(str(df[t.SPAN_ID].iat[int(c)]) for c in cut[:3])
        warnings.append(
            f"{label}: {len(cut)} parent cycle(s) broken by placing one span of each at the top level: {spans}"
        )
        levels, bases = _levels(parent, start, end)

    skewed = np.flatnonzero((parent >= 0) & ((start < start[parent]) | (end > end[parent])))
    if skewed.size:
        s = int(skewed[0])
        warnings.append(
            f"{label}: {skewed.size} span(s) outside their parent's interval (clock skew), kept,"
            f" e.g. span {df[t.SPAN_ID].iat[s]} ({df[t.NAME].iat[s]})"
        )

    depth, order, position, size = _preorder(parent, levels, bases)
    return Execution(exec_id, SpanTable(df, warnings), parent, depth, order, position, size, warnings)


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (a categorical's own codes, when it is one)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(column.to_numpy(dtype=object))[0].astype(np.int64)


def _levels(
    parent: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Breadth-first levels of the tree, each level grouped by parent in the previous level's order.

    ``bases[d][i]`` is the index (within level d) of the first sibling of ``levels[d][i]``. Spans on a parent
    cycle are never reached, so they appear in no level.
    """
    n = len(parent)
    rows = np.arange(n)
    roots = rows[parent < 0]
    roots = roots[np.lexsort((end[roots], start[roots]))]
    kids = rows[parent >= 0]
    kids = kids[np.lexsort((end[kids], start[kids], parent[kids]))]
    counts = np.bincount(parent[kids], minlength=n)
    first_kid = np.concatenate(([0], np.cumsum(counts)[:-1]))

    levels, bases = [roots], [np.zeros(len(roots), dtype=np.int64)]
    frontier = roots
    while True:
        c = counts[frontier]
        total = int(c.sum())
        if total == 0:
            return levels, bases
        group_base = np.repeat(np.cumsum(c) - c, c)
        within = np.arange(total) - group_base
        frontier = kids[np.repeat(first_kid[frontier], c) + within]
        levels.append(frontier)
        bases.append(group_base)


def _cut_cycles(parent: np.ndarray, start: np.ndarray, levels: list[np.ndarray]) -> list[int]:
    """Make the earliest span of each parent cycle a top-level span (in place); return those spans."""
    seen = np.zeros(len(parent), dtype=bool)
    for level in levels:
        seen[level] = True
    cut: list[int] = []
    # Cycles are rare and short: a walk up the parent links of the few unreached spans is enough.
    for u in np.flatnonzero(~seen):
        path: dict[int, int] = {}
        v = int(u)
        while not seen[v] and v not in path:
            path[v] = len(path)
            v = int(parent[v])
        if not seen[v]:  # v is on the path: the path from v on is a cycle
            members = list(path)[path[v] :]
            root = min(members, key=lambda m: (start[m], m))
            parent[root] = -1
            cut.append(root)
        seen[list(path)] = True
    return cut


def _preorder(
    parent: np.ndarray, levels: list[np.ndarray], bases: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Depth, pre-order, position in it and subtree size of every span, from the levels."""
    n = len(parent)
    depth = np.zeros(n, dtype=np.int32)
    size = np.ones(n, dtype=np.int64)
    for d in range(len(levels) - 1, 0, -1):
        depth[levels[d]] = d
        np.add.at(size, parent[levels[d]], size[levels[d]])
    position = np.zeros(n, dtype=np.int64)
    for level, base in zip(levels, bases, strict=True):
        before = np.cumsum(size[level]) - size[level]  # spans in earlier subtrees of this level
        offset = before - before[base]  # ... of earlier siblings only
        anchor = np.where(parent[level] >= 0, position[np.maximum(parent[level], 0)] + 1, 0)
        position[level] = anchor + offset
    order = np.empty(n, dtype=np.int64)
    order[position] = np.arange(n)
    return depth, order, position, size
