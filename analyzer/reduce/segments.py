"""Node timelines: each node's life cut into DESIGN.md's segments, rebuilt from flyte_otel's lifecycle records.

The rules are docs/lifecycle.md's. Every node is tiled exactly from *queued* to *terminal* (its segments
add up to its duration); the wait before it was queued (NODE_TRANSITION, or NODE_IDLE when held back by
max parallelism) runs from *ready* (its last upstream done) to *queued*. Every boundary is clamped to be
monotonic, so clock skew between a pod and propeller shows up as a warning, never as negative time.
The result types live in `analyzer.results.timeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzer import table as T
from analyzer.results.timeline import (
    NODE_IDLE,
    NODE_RESET,
    NODE_SETUP,
    NODE_TEARDOWN,
    NODE_TRANSITION,
    OVERHEAD_CATEGORIES,
    RETRIED,
    SUBNODES,
    TASK_FINALIZE,
    TASK_PREPARE,
    TASK_RUNTIME,
    TASK_SETUP,
    TASK_TEARDOWN,
    WORKFLOW_SETUP,
    WORKFLOW_TEARDOWN,
    ArrayStats,
    Attempt,
    ExecutionTimeline,
    NodeTimeline,
    Section,
    totals,
)
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

__all__ = ["aggregate_overhead", "has_lifecycle", "node_timelines"]

# The columns a lifecycle record is read from (the others stay in the table).
_RECORD_COLUMNS = [
    T.SPAN_ID, T.PARENT_ID, T.START, T.END, sc.EXEC_ID, sc.NODE_ID, sc.NODE_KIND, sc.NODE_PARENT, sc.NODE_UPSTREAM,
    sc.PHASE, sc.ATTEMPT_NUMBER, sc.IDLE_REASON, sc.CHILD_EXEC_ID, sc.ARRAY_SIZE, sc.ARRAY_INDEX,
]  # fmt: skip


_LIFECYCLE_NAMES = (sc.EXECUTION, sc.NODE, sc.ATTEMPT, sc.USER_CODE, sc.IDLE)
# The task pod's spans (flyte_otel.flytekit_instrumentor) under an attempt: its root and the user's function.
_POD_NAMES = (sc.POD_TASK, sc.POD_USER_CODE)


def _records(df: pd.DataFrame) -> pd.DataFrame:
    """The lifecycle rows only (a few per node, however many orchestration spans the table holds)."""
    return df.loc[df[T.NAME].isin(_LIFECYCLE_NAMES + _POD_NAMES).to_numpy(), [T.NAME, *_RECORD_COLUMNS]]


def _rows(life: pd.DataFrame, name: str) -> list[dict[str, Any]]:
    sub = life[(life[T.NAME] == name).to_numpy()].drop(columns=T.NAME)
    return [_clean(r) for r in sub.to_dict("records")]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if _missing(v) else v) for k, v in row.items()}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (list, tuple, np.ndarray, dict)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


class _Cursor:
    """Emits sections left to right, clamping each boundary into [cursor, limit] so nothing is negative."""

    def __init__(self, start: int, limit: int, node: str, warnings: list[str]) -> None:
        self.at, self.limit, self.node, self.warnings = start, limit, node, warnings
        self.out: list[Section] = []

    def to(self, segment: str, t: int, what: str = "") -> None:
        clamped = min(max(t, self.at), self.limit)
        if clamped != t and what:
            self.warnings.append(
                f"node {self.node}: {what} at {t} lies outside [{self.at}, {self.limit}] "
                f"(clock skew?); clamped by {clamped - t:+d} ns"
            )
        if clamped > self.at:
            self.out.append(Section(segment, self.at, clamped, self.node))
        self.at = clamped


def has_lifecycle(table: SpanTable) -> bool:
    """Whether the table holds flyte_otel's lifecycle records (an execution record), so segments are known."""
    return bool((table.df[T.NAME] == sc.EXECUTION).any())


def node_timelines(table: SpanTable, children: Mapping[str, SpanTable] | None = None) -> ExecutionTimeline:
    """The execution's nodes and segments, from flyte_otel's lifecycle records (one execution's table).

    `children` maps a launch plan's child execution id to that execution's table; a child execution
    whose records are in `table` itself is found there too.
    """
    life = _records(table.df)
    executions = _rows(life, sc.EXECUTION)
    if not executions:
        return _fallback(table)
    # A table may also hold launch-plan children's records: the execution is the one nobody launched.
    launched = set(life[sc.CHILD_EXEC_ID].dropna().astype(str))
    own = [r for r in executions if str(r.get(sc.EXEC_ID)) not in launched] or executions
    ex = min(own, key=lambda r: r[T.START])
    exec_id = str(ex.get(sc.EXEC_ID) or "")
    if len(own) < len(executions):
        life = life[(life[sc.EXEC_ID] == exec_id).to_numpy()]
    return _Builder(life, ex, exec_id, dict(children or {}), table).build()


_Idle = tuple[str | None, int, int]  # (reason, start, end)


class _Builder:
    """One execution's timeline from its lifecycle records: its nodes with their attempts first, then each
    node's wait and sections, parents before children (a nested node's ready time is its parent's)."""

    def __init__(
        self,
        life: pd.DataFrame,
        ex: dict[str, Any],
        exec_id: str,
        children: Mapping[str, SpanTable],
        whole: SpanTable,
    ) -> None:
        self.life, self.exec_id, self.children, self.whole = life, exec_id, children, whole
        self.start, self.end, self.phase = int(ex[T.START]), int(ex[T.END]), ex.get(sc.PHASE)
        self.warnings: list[str] = []
        self.idles: dict[str, list[_Idle]] = {}
        for r in _rows(life, sc.IDLE):
            self.idles.setdefault(str(r.get(sc.NODE_ID)), []).append(
                (r.get(sc.IDLE_REASON), int(r[T.START]), int(r[T.END]))
            )
        self.nodes = self._nodes()

    def build(self) -> ExecutionTimeline:
        """Every node's ready time, wait and sections; then the workflow's own sections."""
        nodes = self.nodes
        start_node = next(
            (n for n in nodes.values() if n.parent is None and n.kind == sc.NodeKind.START), None
        )
        ordered = sorted(nodes.values(), key=lambda n: (_depth(n, nodes), n.queued))
        for n in ordered:
            n.ready = self._ready(n, start_node)
            self._wait(n)
            self._tile(n)
        return ExecutionTimeline(
            exec_id=self.exec_id,
            start=self.start,
            end=self.end,
            phase=self.phase,
            nodes={n.node_id: n for n in ordered},
            sections=_workflow_sections(self.start, self.end, start_node, nodes),
            warnings=self.warnings,
        )

    # --- the nodes and their attempts, as recorded -------------------------------------------------------

    def _nodes(self) -> dict[str, NodeTimeline]:
        rows = {str(r[sc.NODE_ID]): r for r in _rows(self.life, sc.NODE)}
        attempts = self._attempts({r[T.SPAN_ID]: nid for nid, r in rows.items()}, set(rows))
        nodes = {nid: _node(nid, r, attempts.get(nid, [])) for nid, r in rows.items()}
        for n in nodes.values():
            if n.parent is not None and n.parent in nodes:
                nodes[n.parent].children.append(n.node_id)
            n.upstream = tuple(_resolve(u, n.parent, nodes) for u in n.upstream)
        return nodes

    def _attempts(self, node_of_span: Mapping[Any, str], known: set[str]) -> dict[str, list[Attempt]]:
        users = {r[T.PARENT_ID]: r for r in _rows(self.life, sc.USER_CODE)}
        code = _pod_user_code(self.life, self.whole)
        out: dict[str, list[Attempt]] = {}
        for r in _rows(self.life, sc.ATTEMPT):
            nid = (
                str(r[sc.NODE_ID]) if r.get(sc.NODE_ID) is not None else node_of_span.get(r[T.PARENT_ID], "")
            )
            if nid not in known:
                self.warnings.append(f"attempt span {r[T.SPAN_ID]} names unknown node {nid!r}; ignored")
                continue
            a = self._attempt(nid, r, users.get(r[T.SPAN_ID]))
            _split_at_code(a, code.get(r[T.SPAN_ID]))
            out.setdefault(nid, []).append(a)
        return out

    def _attempt(self, nid: str, r: Mapping[str, Any], user: Mapping[str, Any] | None) -> Attempt:
        a = Attempt(
            number=int(r.get(sc.ATTEMPT_NUMBER) or 0),
            start=int(r[T.START]),
            end=int(r[T.END]),
            phase=r.get(sc.PHASE),
            index=None if r.get(sc.ARRAY_INDEX) is None else int(r[sc.ARRAY_INDEX]),
        )
        if user is not None:
            us, ue = int(user[T.START]), int(user[T.END])
            a.user_start, a.user_end = min(max(us, a.start), a.end), min(max(ue, a.start), a.end)
            if (a.user_start, a.user_end) != (us, ue):
                self.warnings.append(
                    f"node {nid} attempt {a.number}: user code [{us}, {ue}] lies outside its attempt "
                    f"[{a.start}, {a.end}] (clock skew between pod and propeller); clamped"
                )
        return a

    # --- ready -> queued ---------------------------------------------------------------------------------

    def _ready(self, n: NodeTimeline, start_node: NodeTimeline | None) -> int:
        """The latest end among the node's upstream, else its scope's start (docs/lifecycle.md)."""
        nodes = self.nodes
        known = [nodes[u].end for u in n.upstream if u in nodes]
        if len(known) < len(n.upstream):
            missing = [u for u in n.upstream if u not in nodes]
            self.warnings.append(f"node {n.node_id}: upstream {missing} not recorded; ready from the others")
        if known:
            return max(known)
        if n.parent is not None and n.parent in nodes:
            return nodes[n.parent].children_ready or nodes[n.parent].queued
        if n is start_node or start_node is None:
            return self.start
        return start_node.end

    def _wait(self, n: NodeTimeline) -> None:
        if n.ready > n.queued:
            self.warnings.append(
                f"node {n.node_id}: queued {n.ready - n.queued} ns before its last upstream ended; transition is 0"
            )
            n.ready = n.queued
        cur = _Cursor(n.ready, n.queued, n.node_id, self.warnings)
        held = sorted(
            (s, e)
            for reason, s, e in self.idles.get(n.node_id, [])
            if reason == sc.IdleReason.MAX_PARALLELISM
        )
        for s, e in held:
            cur.to(NODE_TRANSITION, s)
            cur.to(NODE_IDLE, e)
        cur.to(NODE_TRANSITION, n.queued)
        n.waiting = cur.out

    # --- queued -> terminal ------------------------------------------------------------------------------

    def _tile(self, n: NodeTimeline) -> None:
        cur = _Cursor(n.queued, n.end, n.node_id, self.warnings)
        own = [a for a in n.attempts if a.index is None]
        for i, a in enumerate(own):
            cur.to(NODE_SETUP if i == 0 else NODE_RESET, a.start, "attempt start")
            if i < len(own) - 1:
                cur.to(RETRIED, a.end, "attempt end")
            else:
                _attempt_sections(cur, a)
        waits = (x for x in self.idles.get(n.node_id, []) if x[0] != sc.IdleReason.MAX_PARALLELISM)
        for reason, s, e in sorted(waits, key=lambda x: x[1]):
            cur.to(NODE_SETUP, s, f"{reason} wait start")
            cur.to(NODE_IDLE, e, f"{reason} wait end")
        subnodes = _SUBNODES.get(n.kind)
        if subnodes is not None:
            subnodes(self, n, cur)
        cur.to(NODE_TEARDOWN if cur.out else NODE_SETUP, n.end)
        n.sections = cur.out

    def _child_nodes(self, n: NodeTimeline, cur: _Cursor) -> None:
        if n.children:
            n.children_ready = cur.at
            cur.to(SUBNODES, max(self.nodes[c].end for c in n.children), "children end")

    def _subtasks(self, n: NodeTimeline, cur: _Cursor) -> None:
        subs = [a for a in n.attempts if a.index is not None]
        if subs:
            cur.to(NODE_SETUP, min(a.start for a in subs), "first sub-task start")
            cur.to(SUBNODES, max(a.end for a in subs), "last sub-task end")
            n.array = _array_stats(n, subs)

    def _child_execution(self, n: NodeTimeline, cur: _Cursor) -> None:
        child = self._child_table(n.child_exec_id)
        if child is None:
            self.warnings.append(
                f"node {n.node_id}: child execution {n.child_exec_id!r} not available; its whole time counted as SUBNODES"
            )
            cur.to(SUBNODES, n.end)
            return
        n.child = node_timelines(child, self.children)
        self.warnings.extend(f"child {n.child.exec_id}: {w}" for w in n.child.warnings)
        cur.to(NODE_SETUP, n.child.start, "child execution start")
        cur.to(SUBNODES, n.child.end, "child execution end")

    def _child_table(self, child_id: str | None) -> SpanTable | None:
        """The launch plan's child execution: given by the caller, else found in the table itself."""
        if child_id is None:
            return None
        given = self.children.get(str(child_id))
        if given is not None or child_id == self.exec_id:
            return given
        df = self.whole.df
        mine = df[df[sc.EXEC_ID] == child_id]
        return SpanTable.from_frame(mine) if (mine[T.NAME] == sc.EXECUTION).any() else None


# Where a node kind's SUBNODES come from (a kind absent here has none).
_SUBNODES: Mapping[str, Callable[[_Builder, NodeTimeline, _Cursor], None]] = {
    sc.NodeKind.DYNAMIC: _Builder._child_nodes,
    sc.NodeKind.SUBWORKFLOW: _Builder._child_nodes,
    sc.NodeKind.BRANCH: _Builder._child_nodes,
    sc.NodeKind.LAUNCH_PLAN: _Builder._child_execution,
    sc.NodeKind.ARRAY: _Builder._subtasks,
}


def _node(nid: str, r: Mapping[str, Any], attempts: list[Attempt]) -> NodeTimeline:
    upstream = r.get(sc.NODE_UPSTREAM)
    return NodeTimeline(
        node_id=nid,
        kind=str(r.get(sc.NODE_KIND) or sc.NodeKind.TASK),
        parent=r.get(sc.NODE_PARENT),
        upstream=tuple(str(u) for u in upstream) if upstream is not None else (),
        ready=int(r[T.START]),
        queued=int(r[T.START]),
        end=int(r[T.END]),
        phase=r.get(sc.PHASE),
        attempts=sorted(attempts, key=lambda a: (a.start, a.number)),
        child_exec_id=r.get(sc.CHILD_EXEC_ID),
        array_size=None if r.get(sc.ARRAY_SIZE) is None else int(r[sc.ARRAY_SIZE]),
    )


def _depth(n: NodeTimeline, nodes: Mapping[str, NodeTimeline]) -> int:
    d, p = 0, n.parent
    while p is not None and p in nodes and d < 10_000:
        d, p = d + 1, nodes[p].parent
    return d


def _resolve(u: str, parent: str | None, nodes: Mapping[str, NodeTimeline]) -> str:
    """An upstream id as written (full path) or relative to the enclosing node's scope."""
    if u in nodes or parent is None:
        return u
    scoped = f"{parent}/{u}"
    return scoped if scoped in nodes else u


def _attempt_sections(cur: _Cursor, a: Attempt) -> None:
    if a.user_start is None or a.user_end is None:
        cur.to(TASK_SETUP, a.end, "attempt end")
        return
    cur.to(TASK_SETUP, a.user_start, "user code start")
    if a.code_start is not None and a.code_end is not None:
        cur.to(TASK_PREPARE, a.code_start, "the user's function starts (pod)")
        cur.to(TASK_RUNTIME, a.code_end, "the user's function ends (pod)")
        cur.to(TASK_FINALIZE, a.user_end, "user code end")
    else:
        cur.to(TASK_RUNTIME, a.user_end, "user code end")
    cur.to(TASK_TEARDOWN, a.end, "attempt end")


def _pod_user_code(life: pd.DataFrame, whole: SpanTable) -> dict[Any, tuple[int, int]]:
    """Attempt span id -> (first start, last end) of the user's function in the pod spans under it: the pod's
    root is the attempt's child (ids.attempt_span_id), the function somewhere below the root."""
    parent_of_root = {r[T.SPAN_ID]: r[T.PARENT_ID] for r in _rows(life, sc.POD_TASK)}
    return {parent_of_root[root]: span for root, span in _code_by_pod(life, whole).items()}


def _code_by_pod(life: pd.DataFrame, whole: SpanTable) -> dict[Any, tuple[int, int]]:
    """Pod root span id -> (first start, last end) of the user's function below it."""
    roots = {r[T.SPAN_ID] for r in _rows(life, sc.POD_TASK)}
    calls = _rows(life, sc.POD_USER_CODE)
    if not roots or not calls:
        return {}
    df = whole.df
    parent_of = dict(zip(df[T.SPAN_ID], df[T.PARENT_ID], strict=True))
    out: dict[Any, tuple[int, int]] = {}
    for c in calls:
        sid, hops = c[T.PARENT_ID], 0
        while sid not in roots and sid in parent_of and hops < 64:  # a few levels: timeit blocks nest
            sid, hops = parent_of[sid], hops + 1
        if sid in roots:
            lo, hi = out.get(sid, (int(c[T.START]), int(c[T.END])))
            out[sid] = (min(lo, int(c[T.START])), max(hi, int(c[T.END])))
    return out


def _pod_attempts(table: SpanTable, nodes: dict[str, NodeTimeline]) -> None:
    """Without propeller's records (upstream FlytePropeller), each task pod's own root still names its node and
    attempt (docs/pod_spans.md): it becomes one of that node's attempts, split at the user's function."""
    life = _records(table.df)
    code = _code_by_pod(life, table)
    for r in _rows(life, sc.POD_TASK):
        nid = r.get(sc.NODE_ID)
        if nid is None:
            continue
        start, end = int(r[T.START]), int(r[T.END])
        n = nodes.setdefault(str(nid), NodeTimeline(str(nid), "unknown", None, (), start, start, end, None))
        a = Attempt(int(r.get(sc.ATTEMPT_NUMBER) or 0), start, end, None, start, end)
        index = r.get(sc.ARRAY_INDEX)
        a.index = None if index is None else int(index)
        _split_at_code(a, code.get(r[T.SPAN_ID]))
        n.attempts.append(a)


def _split_at_code(a: Attempt, code: tuple[int, int] | None) -> None:
    """Where the user's function ran inside the container's run, when the pod's spans say so (clamped)."""
    if code is None or a.user_start is None or a.user_end is None:
        return
    a.code_start = min(max(code[0], a.user_start), a.user_end)
    a.code_end = min(max(code[1], a.code_start), a.user_end)


def _array_stats(n: NodeTimeline, subs: list[Attempt]) -> ArrayStats:
    by_index: dict[int, list[Attempt]] = {}
    for a in subs:
        by_index.setdefault(int(a.index or 0), []).append(a)
    per: dict[str, list[int]] = {TASK_SETUP: [], TASK_RUNTIME: [], TASK_TEARDOWN: []}
    for atts in by_index.values():
        last = max(atts, key=lambda a: (a.start, a.number))
        if last.user_start is None or last.user_end is None:
            per[TASK_SETUP].append(last.end - last.start)
            continue
        per[TASK_SETUP].append(last.user_start - last.start)
        per[TASK_RUNTIME].append(last.user_end - last.user_start)
        per[TASK_TEARDOWN].append(last.end - last.user_end)
    spread = {
        seg: {"min": int(min(v)), "p50": int(round(float(np.percentile(v, 50)))), "max": int(max(v))}
        for seg, v in per.items()
        if v
    }
    return ArrayStats(
        size=n.array_size if n.array_size is not None else len(by_index),
        subtasks=len(by_index),
        retries=len(subs) - len(by_index),
        spread=spread,
    )


def _workflow_sections(
    start: int, end: int, start_node: NodeTimeline | None, nodes: Mapping[str, NodeTimeline]
) -> list[Section]:
    top = [n for n in nodes.values() if n.parent is None]
    end_node = next((n for n in top if n.kind == sc.NodeKind.END), None)
    setup_end = start_node.end if start_node is not None else start
    ups = [nodes[u].end for u in end_node.upstream if u in nodes] if end_node is not None else []
    work = ups or [n.end for n in top if n.kind not in (sc.NodeKind.START, sc.NodeKind.END)]
    last = max(work) if work else setup_end
    setup_end = min(max(setup_end, start), end)
    last = min(max(last, setup_end), end)
    out = []
    if setup_end > start:
        out.append(Section(WORKFLOW_SETUP, start, setup_end))
    if end > last:
        out.append(Section(WORKFLOW_TEARDOWN, last, end))
    return out


def _fallback(table: SpanTable) -> ExecutionTimeline:
    """Upstream dialect (no lifecycle records): nodes as first/last seen in handleNode; rounds bound the run."""
    df = table.df
    warnings = [
        "no flyte_otel lifecycle records (upstream FlytePropeller dialect): node times are handleNode "
        "first/last seen, segments and overheads are not available"
    ]
    if len(df) == 0:
        return ExecutionTimeline("", 0, 0, None, {}, [], lifecycle=False, warnings=warnings)
    exec_ids = df[sc.EXEC_ID].dropna()
    exec_id = str(exec_ids.iloc[0]) if len(exec_ids) else ""
    handles = df[(df[T.CATEGORY] == sc.Category.NODE_HANDLE) & df[sc.NODE_ID].notna()]
    nodes: dict[str, NodeTimeline] = {}
    if len(handles):
        g = handles.groupby(sc.NODE_ID, sort=False)
        first, last = g[T.START].min(), g[T.END].max()
        for nid in first.sort_values().index:
            s, e = int(first[nid]), int(last[nid])
            nodes[str(nid)] = NodeTimeline(str(nid), "unknown", None, (), s, s, e, None)
    _pod_attempts(table, nodes)
    _nest_by_path(nodes)
    return ExecutionTimeline(
        exec_id=exec_id,
        start=int(df[T.START].min()),
        end=int(df[T.END].max()),
        phase=None,
        nodes=nodes,
        sections=[],
        lifecycle=False,
        warnings=warnings,
    )


def _nest_by_path(nodes: Mapping[str, NodeTimeline]) -> None:
    """A node named by its path (`n1/n0`, as propeller's `node` is: docs/upstream.md §2) goes under its parent."""
    for nid, n in nodes.items():
        parent = nid.rpartition("/")[0]
        if parent in nodes:
            n.parent = parent
            nodes[parent].children.append(nid)


def aggregate_overhead(tl: ExecutionTimeline) -> int:
    """The RFC's workflow overhead (ns): workflow setup/teardown plus every node's flyte and scheduling time.

    Top-level start/end nodes are inside WORKFLOW_SETUP/TEARDOWN, so they are not counted twice; a launch
    plan's child execution adds its own aggregate. Exceeds the wall clock when nodes run in parallel.
    """
    total = sum(s.duration for s in tl.sections)
    for n in tl.nodes.values():
        if n.parent is None and n.kind in (sc.NodeKind.START, sc.NodeKind.END):
            continue
        total += sum(v for k, v in totals((*n.waiting, *n.sections)).items() if k in OVERHEAD_CATEGORIES)
        if n.child is not None:
            total += aggregate_overhead(n.child)
    return total
