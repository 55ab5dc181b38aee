"""Critical paths: over spans (CRISP, USENIX ATC '22; Jaeger UI's CriticalPath) and over a workflow's DAG.

Both walk backwards from the end and emit sections that tile their interval exactly (no gap, no overlap).
They differ in what may follow what (docs/traces.md): a span waits for its children, which it started and
which may overlap, so the next piece on the path is the child that finished last by the time the later one
started; a DAG node starts only after *all* its upstreams finish, so the next piece is the upstream that
finished last, and the time between is the node's own latency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analyzer import table as T
from analyzer.errors import NotFound
from analyzer.execution import Execution
from analyzer.results.timeline import (
    NODE_RESET,
    NODE_SETUP,
    NODE_TRANSITION,
    SUBNODES,
    WORKFLOW_SETUP,
    WORKFLOW_TEARDOWN,
    ExecutionTimeline,
    NodeTimeline,
    Section,
    TimelineView,
)
from flyte_otel import semconv as sc

__all__ = ["SpanSection", "span_critical_path", "timeline_view", "workflow_critical_path"]

# --- over spans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanSection:
    """A stretch of the critical path spent in a span's own time (not in any of its children)."""

    span_id: str
    start: int
    end: int
    row: int = -1  # the span's row in the execution's table (two different spans may share an id)
    root: int = -1  # the row of the root whose path this section is on


def span_critical_path(ex: Execution, root_span_id: str | None = None) -> list[SpanSection]:
    """The critical path over spans, as Jaeger UI and CRISP define it (docs/traces.md), of every root (or
    of the span named `root_span_id`): roots in start order, each root's sections in time order, tiling it.

    Walking back from a span's end, the next child on the path is the blocking child that finished last at
    or before the cut point (the start of the child after it on the path); a child still running then is
    not on the path. Each child is first clamped to its (clamped) parent; one wholly outside it is dropped.
    """
    if len(ex) == 0:
        raise NotFound("critical path: the span table is empty")
    df = ex.table.df
    span_ids = df[T.SPAN_ID].astype(str).to_numpy()
    starts = df[T.START].to_numpy(np.int64)
    ends = np.maximum(df[T.END].to_numpy(np.int64), starts)
    children = _blocking_children(ex)
    out: list[SpanSection] = []
    for root in _roots(ex, span_ids, root_span_id):
        path: list[SpanSection] = []
        _walk_span(root, int(starts[root]), int(ends[root]), children, starts, ends, path)
        out.extend(SpanSection(str(span_ids[s.row]), s.start, s.end, s.row, root) for s in reversed(path))
    return out


def _roots(ex: Execution, span_ids: np.ndarray, span_id: str | None) -> list[int]:
    """The top-level spans in start order (as Jaeger UI's trace.rootSpans), or the first span named `span_id`."""
    if span_id is None:
        return [int(r) for r in ex.order if ex.parent_index[r] < 0]
    hit = np.flatnonzero(span_ids == span_id)
    if not len(hit):
        raise NotFound(f"critical path: no span {span_id!r} in the table")
    return [int(hit[0])]


def _blocking_children(ex: Execution) -> dict[int, np.ndarray]:
    """Each span's children that its end waits for: not FOLLOWS_FROM, not a consumer of a producer."""
    df = ex.table.df
    parent = ex.parent_index
    kind = df[T.KIND].astype(object).to_numpy()
    follows = df[T.REF_TYPE].astype(object).to_numpy() == "follows_from"
    consumer = (kind == "consumer") & (kind[np.maximum(parent, 0)] == "producer")
    kids = np.flatnonzero((parent >= 0) & ~follows & ~consumer)
    kids = kids[np.argsort(parent[kids], kind="stable")]
    groups = np.split(kids, np.flatnonzero(np.diff(parent[kids])) + 1) if len(kids) else []
    return {int(parent[g[0]]): g for g in groups}


def _walk_span(
    i: int,
    lo: int,
    hi: int,
    children: dict[int, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    out: list[SpanSection],
) -> None:
    """Append span i's path over its clamped interval [lo, hi] to `out`, latest section first."""
    kids = children.get(i)
    bound = hi
    if kids is not None:
        s = np.maximum(starts[kids], lo)
        e = np.minimum(ends[kids], hi)
        inside = s < e  # a child wholly outside its parent is dropped, as Jaeger UI drops it
        kids, s, e = kids[inside], s[inside], e[inside]
        # latest end first; on a tie the earliest start, as Jaeger UI keeps the first of its start-sorted
        # children; then table order
        for k in np.lexsort((kids, s, -e)):
            if bound <= lo:
                break
            if e[k] > bound:
                continue  # still running when the later child on the path started: shortening it gains nothing
            if bound > e[k]:
                out.append(SpanSection("", int(e[k]), bound, i))
            _walk_span(int(kids[k]), int(s[k]), int(e[k]), children, starts, ends, out)
            bound = int(s[k])
    if bound > lo:
        out.append(SpanSection("", lo, bound, i))


# --- over a workflow's DAG ---------------------------------------------------------------------------


class _Walk:
    """Collects sections right to left; any hole between a section and the bound is charged to `gap`."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.out: list[Section] = []

    def emit(self, sec: Section, gap: str, gap_node: str) -> None:
        e = min(sec.end, self.bound)
        s = min(sec.start, e)
        self.fill(e, gap, gap_node)
        if e > s:
            self.out.append(Section(sec.segment, s, e, sec.node))
            self.bound = s

    def fill(self, t: int, segment: str, node: str) -> None:
        if self.bound > t:
            self.out.append(Section(segment, t, self.bound, node))
            self.bound = t


def timeline_view(tl: ExecutionTimeline) -> TimelineView:
    """The timeline with its critical path, as the timeline picture draws it (no path without lifecycle)."""
    return TimelineView(tl, workflow_critical_path(tl) if tl.lifecycle else [])


def workflow_critical_path(tl: ExecutionTimeline) -> list[Section]:
    """The execution's critical path over its DAG (the upstream that finished last), nested nodes recursed."""
    w = _Walk(tl.end)
    setup = next((s for s in tl.sections if s.segment == WORKFLOW_SETUP), None)
    teardown = next((s for s in tl.sections if s.segment == WORKFLOW_TEARDOWN), None)
    lower = setup.end if setup is not None else tl.start
    if teardown is not None:
        w.emit(teardown, WORKFLOW_TEARDOWN, "")
    top = [n for n in tl.scope(None) if n.kind not in (sc.NodeKind.START, sc.NodeKind.END)]
    _walk_scope(w, tl, top, lower, WORKFLOW_TEARDOWN, "")
    if setup is not None:
        w.emit(setup, WORKFLOW_SETUP, "")
    w.fill(tl.start, WORKFLOW_SETUP, "")
    w.out.reverse()
    return w.out


def _walk_scope(
    w: _Walk, tl: ExecutionTimeline, scope: list[NodeTimeline], lower: int, gap: str, gap_node: str
) -> None:
    node = _last(scope, w.bound)
    while node is not None and w.bound > lower:
        w.fill(node.end, gap, gap_node)
        for sec in reversed(node.sections):
            if sec.segment == SUBNODES:
                _walk_subnodes(w, tl, node, sec)
            else:
                w.emit(sec, gap, gap_node)
        for sec in reversed(node.waiting):
            w.emit(sec, gap, gap_node)
        gap, gap_node = NODE_TRANSITION, node.node_id  # a hole before its wait is still its latency
        ups = [tl.nodes[u] for u in node.upstream if u in tl.nodes]
        node = _last(ups, w.bound) if ups else None
    w.fill(min(lower, w.bound), gap, gap_node)


def _last(nodes: Iterable[NodeTimeline], bound: int) -> NodeTimeline | None:
    best, best_end = None, None
    for n in nodes:
        if min(n.ready, n.queued) >= bound:
            continue
        e = min(n.end, bound)
        if best_end is None or e > best_end:
            best, best_end = n, e
    return best


def _walk_subnodes(w: _Walk, tl: ExecutionTimeline, node: NodeTimeline, sec: Section) -> None:
    w.fill(sec.end, sec.segment, node.node_id)
    if node.child is not None:
        for s in reversed(workflow_critical_path(node.child)):
            w.emit(s, SUBNODES, node.node_id)
    elif node.children:
        _walk_scope(w, tl, [tl.nodes[c] for c in node.children], sec.start, SUBNODES, node.node_id)
    elif node.array is not None:
        _walk_subtask(w, node, sec)
    w.fill(sec.start, SUBNODES, node.node_id)


def _walk_subtask(w: _Walk, node: NodeTimeline, sec: Section) -> None:
    subs = [a for a in node.attempts if a.index is not None and a.start < w.bound]
    if not subs:
        return
    index = max(subs, key=lambda a: min(a.end, w.bound)).index
    chain = sorted((a for a in subs if a.index == index), key=lambda a: (a.start, a.number))
    label = f"{node.node_id}[{index}]"
    for pos, a in reversed(list(enumerate(chain))):
        for s in reversed(a.sections(label, last=pos == len(chain) - 1)):
            w.emit(s, NODE_RESET, label)
    w.fill(sec.start, NODE_SETUP, label)
