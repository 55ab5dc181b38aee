"""Critical paths: over spans (CRISP, USENIX ATC '22; Jaeger UI's CriticalPath) and over a workflow's DAG.

Both walk backwards from the end, each time into the piece of work that finished last before the current
bound, and emit sections that tile the root interval exactly (no gap, no overlap, never over 100%).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analyzer import table as T
from analyzer.errors import NotFound
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
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

__all__ = ["SpanSection", "span_critical_path", "timeline_view", "workflow_critical_path"]

# --- over spans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanSection:
    """A stretch of the critical path spent in a span's own time (not in any of its children)."""

    span_id: str
    start: int
    end: int


def span_critical_path(table: SpanTable, root_span_id: str | None = None) -> list[SpanSection]:
    """CRISP over spans: children clamped to their parent, follows-from children not blocking; tiles the root."""
    df = table.df
    if len(df) == 0:
        raise NotFound("critical path: the span table is empty")
    ids = df[T.SPAN_ID].astype(str).to_numpy()
    parents = df[T.PARENT_ID].fillna("").astype(str).to_numpy()
    starts = df[T.START].to_numpy(np.int64)
    ends = np.maximum(df[T.END].to_numpy(np.int64), starts)
    root = _root(ids, parents, starts, ends, root_span_id)
    blocking = df[T.REF_TYPE].astype(object).to_numpy() != "follows_from"
    index = {s: i for i, s in enumerate(ids)}
    parent_idx = np.array([index.get(p, -1) for p in parents], dtype=np.int64)
    # Children of every span, latest end first: one sort, then slices.
    child = np.flatnonzero((parent_idx >= 0) & blocking)
    order = child[np.lexsort((-ends[child], parent_idx[child]))]
    keys = parent_idx[order]
    lo_at = np.searchsorted(keys, np.arange(len(ids)), side="left")
    hi_at = np.searchsorted(keys, np.arange(len(ids)), side="right")

    out: list[SpanSection] = []
    # Work items, popped in descending time: ("gap", span, s, e) or ("span", span, lo, hi).
    stack: list[tuple[bool, int, int, int]] = [(False, root, int(starts[root]), int(ends[root]))]
    while stack:
        is_gap, i, lo, hi = stack.pop()
        if is_gap:
            if hi > lo:
                out.append(SpanSection(str(ids[i]), lo, hi))
            continue
        plan: list[tuple[bool, int, int, int]] = []
        bound = hi
        for c in order[lo_at[i] : hi_at[i]]:
            if bound <= lo:
                break
            if starts[c] >= bound:
                continue  # starts after the bound: not on the path
            e = min(int(ends[c]), bound)
            s = max(int(starts[c]), lo)
            if e <= lo:
                break  # sorted by end: every remaining child lies wholly before the parent
            plan.append((True, i, e, bound))
            plan.append((False, int(c), s, e))
            bound = s
        plan.append((True, i, lo, bound))
        stack.extend(reversed(plan))
    out.reverse()
    return out


def _root(
    ids: np.ndarray, parents: np.ndarray, starts: np.ndarray, ends: np.ndarray, span_id: str | None
) -> int:
    """The row of the span named `span_id`, else of the longest span whose parent is not in the table."""
    if span_id is None:
        roots = np.flatnonzero(~np.isin(parents, ids))
        return int(roots[np.argmax(ends[roots] - starts[roots])])
    hit = np.flatnonzero(ids == span_id)
    if not len(hit):
        raise NotFound(f"critical path: no span {span_id!r} in the table")
    return int(hit[0])


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
