"""One execution: its spans (every trace that holds one of them, taken whole), stitched into one time-ordered tree.

Upstream FlytePropeller starts a new trace per round, so an execution is many traces; flyte_otel's one-trace
mode makes it one. Either way the traces' roots become the top level of one tree, ordered by start time.
Bad structure is repaired and reported as a warning, never dropped silently: a span delivered twice (same trace
and span id, every field equal) is kept once, two different spans sharing an id are both kept (children attach
to the first, as in Jaeger UI), an orphan (parent not present) and one span of each parent cycle are moved
to the top level, and a child outside its parent's interval (clock skew) is kept where it is.

Which spans belong to the execution is decided first (`select_execution`); `stitch` makes them one tree. The tree is index arrays over the rows of ``Execution.table`` (no per-span Python objects): it is built
level by level with numpy, so its cost is O(spans) plus a few numpy calls per level of depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer import ids
from analyzer import table as t
from analyzer.errors import NotFound
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["Execution", "select_execution", "stitch"]


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
        return int(self.table.column(t.START).min()) if len(self) else 0

    @property
    def end_ns(self) -> int:
        """End of the latest span."""
        return int(self.table.column(t.END).max()) if len(self) else 0


def select_execution(table: SpanTable, exec_id: str, source: str = "<table>") -> SpanTable:
    """The rows of every trace that holds a span of `exec_id` (spans without exec_id, e.g. gRPC events,
    belong through their trace), minus rows explicitly tagged with another execution."""
    tagged = table.column(semconv.EXEC_ID)
    own = tagged == exec_id
    if not own.any():
        raise NotFound(f"{source}: no span has {semconv.EXEC_ID}={exec_id!r}")
    trace = ids.codes(table.ids(t.TRACE_ID))
    holds_own = np.zeros(int(trace.max()) + 2, dtype=bool)
    holds_own[trace[own]] = True  # trace codes (-1: no trace id) of the traces holding a span of exec_id
    keep = holds_own[trace] & (own | t.missing(tagged))
    if keep.all():  # e.g. a store or file holding one execution: no copy
        return table.with_warnings(table.warnings)
    return table.take(keep)


def stitch(table: SpanTable, exec_id: str | None = None) -> Execution:
    """Stitch the spans of ``table`` (e.g. from `select_execution`) into one tree, with warnings."""
    label = f"execution {exec_id}" if exec_id else "trace"
    warnings = list(table.warnings)
    links = _link(table)
    if links.repeated.any():
        copies, shared = _repeats(table, links.repeated)
        if copies.any():
            first = int(np.flatnonzero(copies)[0])
            warnings.append(
                f"{label}: {int(copies.sum())} repeated span(s) (the same span delivered again) kept once,"
                f" e.g. span {table.value(t.SPAN_ID, first)} in trace {table.value(t.TRACE_ID, first)}"
            )
            table = table.take(~copies)
            links = _link(table)
        if shared:
            warnings.append(f"{label}: {_shared_ids(table, links.repeated)}")
    parent, has_parent = links.parent, links.has_parent

    orphans = np.flatnonzero(has_parent & (parent < 0))
    if orphans.size:
        o = int(orphans[0])
        warnings.append(
            f"{label}: {orphans.size} orphan span(s) (parent not present) placed at the top level,"
            f" e.g. span {table.value(t.SPAN_ID, o)} whose parent {table.value(t.PARENT_ID, o)} is missing"
        )

    start = table.column(t.START)
    end = table.column(t.END)
    levels, bases = _levels(parent, start, end)
    unreached = len(table) - sum(len(lv) for lv in levels)
    if unreached:
        cut = _cut_cycles(parent, start, levels)
        spans = ", ".join(str(table.value(t.SPAN_ID, int(c))) for c in cut[:3])
        warnings.append(
            f"{label}: {len(cut)} parent cycle(s) broken by placing one span of each at the top level: {spans}"
        )
        levels, bases = _levels(parent, start, end)

    skewed = np.flatnonzero((parent >= 0) & ((start < start[parent]) | (end > end[parent])))
    if skewed.size:
        s = int(skewed[0])
        warnings.append(
            f"{label}: {skewed.size} span(s) outside their parent's interval (clock skew), kept,"
            f" e.g. span {table.value(t.SPAN_ID, s)} ({table.value(t.NAME, s)})"
        )

    depth, order, position, size = _preorder(parent, levels, bases)
    return Execution(exec_id, table.with_warnings(warnings), parent, depth, order, position, size, warnings)


def _repeats(table: SpanTable, repeated: np.ndarray) -> tuple[np.ndarray, bool]:
    """Of the rows that repeat an earlier row's (trace, span id): which are copies of an earlier row in every
    column (the same span delivered twice: dropped), and whether any is a different span (kept)."""
    _, inverse, counts = np.unique(_pairs(table), return_inverse=True, return_counts=True)
    members = np.flatnonzero(counts[inverse] > 1)  # rare: only these are compared
    # every value as text, so attribute dicts and tuples compare (they are not hashable)
    columns = [table.column(c)[members] for c in t.COLUMNS]
    seen: set[tuple[str, ...]] = set()
    copies = np.zeros(len(table), dtype=bool)
    for i, row in enumerate(members.tolist()):
        text = tuple(repr(_plain(col[i])) for col in columns)
        copies[row] = text in seen
        seen.add(text)
    return copies, bool((repeated & ~copies).any())


def _plain(value: object) -> object:
    """A value as a Python object, missing values (None, NaN) alike."""
    return None if value is None or value != value else value


def _pairs(table: SpanTable) -> np.ndarray:
    """Each row's (trace, span id) as one integer, equal for equal pairs."""
    trace, span = ids.codes(table.ids(t.TRACE_ID)), ids.codes(table.ids(t.SPAN_ID))
    key: np.ndarray = trace * (int(span.max(initial=0)) + 2) + span + 1  # +1: a missing id (-1): its own slot
    return key


def _shared_ids(table: SpanTable, repeated: np.ndarray) -> str:
    """The warning for different spans sharing one id: both are kept, and their children (and the parent
    links of other spans) attach to the first, as Jaeger UI attaches them (docs/traces.md)."""
    later = np.flatnonzero(repeated)
    row = int(later[0])
    key = _pairs(table)
    first = int(np.flatnonzero(key == key[row])[0])
    span, trace = table.value(t.SPAN_ID, row), table.value(t.TRACE_ID, row)
    return (
        f"{len(later)} span(s) share their id with a different span in the same trace, both kept (children"
        f" attach to the first), e.g. span {span} in trace {trace}:"
        f" {table.value(t.NAME, first)!r} (row {first}) and {table.value(t.NAME, row)!r} (row {row})"
    )


@dataclass(frozen=True)
class _Links:
    parent: np.ndarray  # row of the parent span, -1 if none or not present
    has_parent: np.ndarray  # the span names a parent
    repeated: np.ndarray  # the span repeats an earlier row's trace and span id


def _link(table: SpanTable) -> _Links:
    """Each span's parent row, found by binary search over keys that identify (trace, span id). Hex span
    ids are keyed by their 64-bit value mixed with the trace's code, no strings hashed; the mixing could
    make two pairs collide, so the links are checked against the exact ids and, if one is wrong, made again
    from exact codes."""
    trace = ids.codes(table.ids(t.TRACE_ID))
    n = len(table)
    numbers = ids.span_numbers(table.ids(t.SPAN_ID), table.ids(t.PARENT_ID))
    if numbers is not None:
        span, parent_span, has_parent = numbers
        mix = trace.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        links = _search((span ^ mix).view(np.int64), (parent_span ^ mix).view(np.int64), has_parent)
        same = (trace[links.parent] == trace) & (span[links.parent] == parent_span)
        if ((links.parent < 0) | same).all() and _exact_repeats(links.repeated, trace, span):
            return links
    # One factorization of span ids and parent ids together gives both the same integer codes.
    codes = ids.codes(table.ids(t.SPAN_ID), table.ids(t.PARENT_ID))
    width = int(codes.max(initial=0)) + 2
    return _search(trace * width + codes[:n] + 1, trace * width + codes[n:] + 1, codes[n:] >= 0)


def _search(key: np.ndarray, parent_key: np.ndarray, has_parent: np.ndarray) -> _Links:
    n = len(key)
    by_key = np.argsort(key)
    sorted_key = key[by_key]
    same = sorted_key[1:] == sorted_key[:-1]
    repeated = np.zeros(n, dtype=bool)
    if same.any():  # rare: sort again keeping rows with one key in row order, so the first is kept
        by_key = np.argsort(key, kind="stable")
        sorted_key = key[by_key]
        repeated[by_key[1:][same]] = True
    # the parents looked up in key order: a binary search with sorted needles is ~2.5x faster
    rows = np.flatnonzero(has_parent)
    rows = rows[np.argsort(parent_key[rows])]
    parent = np.full(n, -1, dtype=np.int64)
    if n:
        at = np.minimum(np.searchsorted(sorted_key, parent_key[rows]), n - 1)
        found = sorted_key[at] == parent_key[rows]
        parent[rows[found]] = by_key[at[found]]
    return _Links(parent, has_parent, repeated)


def _exact_repeats(repeated: np.ndarray, trace: np.ndarray, span: np.ndarray) -> bool:
    """Whether every row flagged repeated really repeats an earlier row's (trace, span id)."""
    if not repeated.any():
        return True
    pairs = np.stack([trace.astype(np.uint64), span], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)
    later = np.ones(len(pairs), dtype=bool)
    later[first] = False  # np.unique gives each pair's first row
    return bool((later == repeated).all())


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
