"""The fold: which spans of an execution become lines, in what order, and which are collapsed into one.

A line is a span, in pre-order (parent first, siblings by start time), or a *run*: more than ``collapse``
consecutive siblings with the same name and category (e.g. 5,000 array sub-task attempts) shown as one
line with their count, median and max duration; the run's subtrees are counted, not shown. All of it is
array arithmetic over the execution's pre-order (no per-span Python objects); benchmarks/bench_fold.py
measures it. The result type, `Fold`, lives in `analyzer.results.fold`.
"""

from __future__ import annotations

import numpy as np

from analyzer import table as t
from analyzer.execution import Execution
from analyzer.reduce.defaults import DEFAULT_COLLAPSE
from analyzer.reduce.nodes import enclosing_nodes
from analyzer.results.fold import Fold, FoldTotal
from flyte_otel import semconv

__all__ = ["DEFAULT_COLLAPSE", "NEVER_COLLAPSED", "fold"]

# Categories whose runs are never collapsed: a propeller round is the fold's unit of time (fold-logs.py's
# "Processing" line), and with upstream FlytePropeller every round is a top-level sibling of the last.
NEVER_COLLAPSED = (semconv.Category.ROUND,)
_ROUND = semconv.Category.ROUND


def fold(
    ex: Execution, *, collapse: int = DEFAULT_COLLAPSE, max_depth: int | None = None, node: str | None = None
) -> Fold:
    """Lines of the fold: runs longer than ``collapse`` (0: never) become one line; cut below ``max_depth``
    levels; with ``node``, only spans of that node (or nested in it) and their ancestors and descendants."""
    table = ex.table
    n = len(ex)
    nodes = enclosing_nodes(ex)
    keep = _node_mask(ex, nodes, node) if node is not None else np.ones(n, dtype=bool)
    if max_depth is not None:
        keep &= ex.depth < max_depth

    # Siblings in display order: grouped by parent, then by pre-order position (= by start time).
    sib = np.lexsort((ex.position, ex.parent_index))
    sib = sib[keep[sib]]
    parent = ex.parent_index[sib]
    name = table.codes(t.NAME).codes[sib]
    categories = table.codes(t.CATEGORY)
    category = categories.codes[sib]
    boundary = np.ones(len(sib), dtype=bool)
    boundary[1:] = (parent[1:] != parent[:-1]) | (name[1:] != name[:-1]) | (category[1:] != category[:-1])
    run_start = np.flatnonzero(boundary)
    run_len = np.diff(np.r_[run_start, len(sib)])
    big = run_len > collapse if collapse > 0 else np.zeros(len(run_len), dtype=bool)
    never = [categories.categories.index(c) for c in NEVER_COLLAPSED if c in categories.categories]
    big &= ~np.isin(category[run_start], never)
    first, length = run_start[big], run_len[big]
    last = sib[first + length - 1]
    first_row = sib[first]

    # Hide everything after a run's first sibling up to the end of its last sibling's subtree.
    lo = ex.position[first_row] + 1
    hi = ex.position[last] + ex.subtree_size[last]
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi, -1)
    hidden_at = np.cumsum(cover[:n]) > 0
    rows = ex.order[keep[ex.order] & ~hidden_at]

    start = table.column(t.START)
    end = table.column(t.END)
    line_count = np.ones(len(rows), dtype=np.int64)
    line_start = start[rows]
    line_duration = end[rows] - start[rows]
    p50 = line_duration.copy()
    longest = line_duration.copy()
    hidden = np.zeros(len(rows), dtype=np.int64)
    # A run nested inside another collapsed run is hidden with it (it has no line: -1): skip it.
    line_of = np.full(n, -1, dtype=np.int64)
    line_of[rows] = np.arange(len(rows))
    at = line_of[first_row]
    shown = at >= 0
    j, k = at[shown], length[shown]
    if len(j):
        # the runs' siblings laid end to end, each run's from `base`; durations sorted within each run
        base = np.cumsum(k) - k
        members = sib[np.repeat(first[shown] - base, k) + np.arange(int(k.sum()))]
        durations = end[members] - start[members]
        ordered = durations[np.lexsort((durations, np.repeat(np.arange(len(k)), k)))]
        line_count[j] = k
        line_duration[j] = np.maximum.reduceat(end[members], base) - np.minimum.reduceat(start[members], base)
        # np.median's value: the mean of the two middle durations (one, twice, for an odd count), rounded
        # half to even as round() does
        middle = (ordered[base + (k - 1) // 2].astype(np.float64) + ordered[base + k // 2]) / 2
        p50[j] = np.rint(middle)
        longest[j] = np.maximum.reduceat(durations, base)
        hidden[j] = (hi - lo + 1)[shown] - k
    return Fold(ex, rows, ex.depth[rows], _ordinals(ex, sib, rows), line_count, line_start,
                line_duration, p50, longest, hidden, nodes[rows], _total(ex))  # fmt: skip


def _total(ex: Execution) -> FoldTotal:
    """The execution's wall-clock span, its spans, and its rounds with the time spent in them."""
    table = ex.table
    categories = table.codes(t.CATEGORY)
    is_round = np.isin(categories.codes, [i for i, c in enumerate(categories.categories) if c == _ROUND])
    round_ns = int(table.duration_ns[is_round].sum())
    return FoldTotal(ex.start_ns, ex.end_ns - ex.start_ns, len(ex), int(is_round.sum()), round_ns)


def _ordinals(ex: Execution, sib: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """1-based rank of each line among the lines sharing its parent, in line order: counted along the
    siblings order (`sib`: rows by parent, then by pre-order position), shown rows only."""
    shown = np.zeros(len(ex), dtype=bool)
    shown[rows] = True
    sib = sib[shown[sib]]
    parent = ex.parent_index[sib]
    first = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
    rank = np.arange(len(sib)) - np.repeat(first, np.diff(np.r_[first, len(sib)]))
    ordinal = np.zeros(len(ex), dtype=np.int64)
    ordinal[sib] = rank + 1
    return np.asarray(ordinal[rows])


def _node_mask(ex: Execution, nodes: np.ndarray, node: str) -> np.ndarray:
    """Spans of ``node`` (or of a node nested in it), their ancestors and their descendants."""
    prefix = node + "/"
    own = np.fromiter(
        (isinstance(v, str) and (v == node or v.startswith(prefix)) for v in nodes.tolist()),
        dtype=bool,
        count=len(nodes),
    )
    n = len(ex)
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, ex.position[own], 1)
    np.add.at(cover, ex.position[own] + ex.subtree_size[own], -1)
    keep = np.zeros(n, dtype=bool)
    keep[ex.order[np.cumsum(cover[:n]) > 0]] = True
    up = ex.parent_index[own]
    while up.size:
        up = up[up >= 0]
        up = up[~keep[up]]
        keep[up] = True
        up = np.unique(ex.parent_index[up])
    return keep
