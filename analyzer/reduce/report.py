"""The report data model: DESIGN.md's YAML shape as plain dicts whose leaves are numbers, never formatted.

Leaves are ns (ints) for durations, fractions (floats) for shares, ints for counts; FIELD_KIND says which
is which by key, so a renderer formats and a reader parses without a schema of its own. Several runs of
one benchmark keep every run under ``runs`` and summarise them by the median, so a diff can judge noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from analyzer.decode.flyteadmin import AdminExecution
from analyzer.reduce import segments as S
from analyzer.reduce.admin_segments import merge
from analyzer.reduce.critical_path import workflow_critical_path
from analyzer.reduce.percentiles import METHOD, Stats, category_durations, category_stats, per_round_stats
from analyzer.results import timeline as TL
from analyzer.results.document import RATIO, SKETCH, TEXT, field_kind, flatten, unflatten
from analyzer.results.sketch import sketch_of
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

__all__ = ["LAYOUT", "METHODS", "SUMMARY_METHOD", "report", "run_report", "summarise"]

C = sc.Category
# Where each category goes in the document (the RFC's groups, extended).
LAYOUT: tuple[tuple[tuple[str, str], str], ...] = (
    (("events", "workflow"), C.EVENT_WORKFLOW),
    (("events", "node"), C.EVENT_NODE),
    (("events", "task"), C.EVENT_TASK),
    (("blobstore", "reads"), C.BLOBSTORE_READ),
    (("blobstore", "writes"), C.BLOBSTORE_WRITE),
    (("etcd", "reads"), C.ETCD_READ),
    (("etcd", "writes"), C.ETCD_WRITE),
    (("cache", "lookups"), C.CACHE_LOOKUP),
    (("cache", "writes"), C.CACHE_WRITE),
    (("k8s", "calls"), C.K8S),
    (("admin", "calls"), C.ADMIN),
    (("propeller", "rounds"), C.ROUND),
    (("propeller", "streaks"), C.STREAK),
    (("propeller", "nodeHandles"), C.NODE_HANDLE),
    (("propeller", "taskHandles"), C.TASK_HANDLE),
    (("pod", "tasks"), C.POD_TASK),  # the task pod's own spans (docs/pod_spans.md), when it has them
    (("pod", "downloads"), C.POD_DOWNLOAD),
    (("pod", "uploads"), C.POD_UPLOAD),
    (("pod", "flytekit"), C.POD_FLYTEKIT),
)

# What a trace may not let the report derive: (key in the `absent` block, when it is missing, why).
# Upstream FlytePropeller emits neither lifecycle records nor sizes (docs/upstream.md §4).
ABSENT: tuple[tuple[str, Callable[[TL.ExecutionTimeline, Mapping[str, Any]], bool], str], ...] = (
    (
        "segments",
        lambda tl, doc: not tl.lifecycle,
        "no flyte_otel lifecycle records (upstream FlytePropeller): node segments, kinds and durations and the "
        "workflow's overheads are not in the trace; FlyteAdmin has them (--admin-config or --admin-url); nodes show `seen`, "
        "handleNode first start to last end",
    ),
    (
        "etcdBytes",
        lambda tl, doc: "writes" in doc.get("etcd", {}) and "etcdBytes" not in doc.get("propeller", {}),
        "WorkflowStore.Update carries no object size (upstream FlytePropeller)",
    ),
)

# The report's method block: how each figure is computed, stated next to the figures.
METHODS: Mapping[str, str] = {
    "percentiles": METHOD,
    "flyteOverhead": (
        "share of the workflow's critical path (walked back from the end, each time into the dependency "
        "that finished last; nested nodes recursed) spent in flyte segments: WORKFLOW_SETUP, "
        "NODE_TRANSITION, NODE_SETUP, NODE_RESET, NODE_TEARDOWN, WORKFLOW_TEARDOWN; never over 100%"
    ),
    "k8sOverhead": "share of the critical path in TASK_SETUP and TASK_TEARDOWN",
    "userCode": "share of the critical path in TASK_RUNTIME",
    "aggregateOverhead": (
        "the RFC's: sum over nodes of flyte overhead + scheduling latency (NODE_TRANSITION), plus "
        "WORKFLOW_SETUP/TEARDOWN, over wall clock; can exceed 100% when nodes run in parallel"
    ),
    "nodes": "per node, shares of its own duration (queued -> terminal); schedulingLatency = NODE_TRANSITION",
}
# How several runs are summarised, stated in the method block.
SUMMARY_METHOD = "each value is the median over runs; every run is kept under runs"


def run_report(
    table: SpanTable,
    children: Mapping[str, SpanTable] | None = None,
    admin: AdminExecution | None = None,
    *,
    sketches: bool = False,
) -> dict[str, Any]:
    """One execution's report (the mapping under the document key). `children`: its launch plans' child
    executions by id; `admin`: FlyteAdmin's segments, used when the trace has no lifecycle records;
    `sketches`: each category's durations as a sketch too (a benchmark's runs, for the diff)."""
    tl = S.node_timelines(table, children)
    if admin is not None and not tl.lifecycle:
        tl = merge(tl, admin)
    out: dict[str, Any] = {"execution": tl.exec_id, "duration": tl.duration}
    if tl.lifecycle:
        out.update(_overheads(tl))
        out["segments"] = {s.segment: s.duration for s in tl.sections}
    out["nodes"] = _nodes(tl, prefix="")
    out.update(_orchestration(table, sketches))
    absent = {key: why for key, missing, why in ABSENT if missing(tl, out)}
    if absent:
        out["absent"] = absent
    if tl.warnings:
        out["warnings"] = list(tl.warnings)
    return out


def _overheads(tl: TL.ExecutionTimeline) -> dict[str, Any]:
    path = TL.totals(workflow_critical_path(tl))
    wall = tl.duration or 1
    return {
        "flyteOverhead": (path.get(TL.FLYTE, 0) + path.get(TL.SCHEDULING, 0)) / wall,
        "aggregateOverhead": S.aggregate_overhead(tl) / wall,
        "k8sOverhead": path.get(TL.K8S, 0) / wall,
        "userCode": path.get(TL.USER, 0) / wall,
        "held": path.get(TL.HELD, 0) / wall,
        "retriedShare": path.get(TL.RETRIED_CATEGORY, 0) / wall,
    }


def _pod_split(n: TL.NodeTimeline) -> dict[str, Any]:
    """The task pods' own view of a node (their spans, without propeller's records): attempts, and the
    container's run split at the user's function, summed over attempts."""
    if not n.attempts:
        return {}
    split: dict[str, int] = {}
    for a in n.attempts:
        for s in a.sections(n.node_id, last=True):
            split[s.segment] = split.get(s.segment, 0) + s.duration
    return {"pod": {"attempts": len(n.attempts), **split}}


def _nodes(tl: TL.ExecutionTimeline, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in tl.nodes.values():
        if not tl.lifecycle:  # what the trace shows of a node, its kind unknown (ABSENT says so)
            out.append({prefix + n.node_id: {"seen": n.duration, **_pod_split(n)}})
            continue
        seg = n.totals()
        own = dict.fromkeys((TL.FLYTE, TL.K8S, TL.USER), 0)
        for k, v in seg.items():
            cat = TL.SEGMENT_CATEGORY[k]
            if k != TL.NODE_TRANSITION and cat in own:
                own[cat] += v
        dur = n.duration or 1
        entry: dict[str, Any] = {"kind": n.kind, "duration": n.duration}
        entry.update(
            flyteOverhead=own[TL.FLYTE] / dur,
            k8sOverhead=own[TL.K8S] / dur,
            userCode=own[TL.USER] / dur,
            schedulingLatency=seg.get(TL.NODE_TRANSITION, 0),
            attempts=len([a for a in n.attempts if a.index is None]),
            segments={k: seg[k] for k in TL.SEGMENTS if k in seg},
        )
        if n.array is not None:
            entry["fanOut"] = {
                "size": n.array.size,
                "subtasks": n.array.subtasks,
                "retries": n.array.retries,
                **n.array.spread,
            }
        if n.child_exec_id is not None:
            entry["childExecution"] = n.child_exec_id
        out.append({prefix + n.node_id: entry})
        if n.child is not None:
            out.extend(_nodes(n.child, prefix=f"{prefix}{n.node_id}/"))
    return out


def _stats(s: Stats) -> dict[str, Any]:
    return {
        "count": s.count,
        "total": _int(s.total),
        "latency": {"p50": _int(s.p50), "p90": _int(s.p90), "p99": _int(s.p99), "max": _int(s.max)},
    }


def _int(x: float) -> int:
    return int(round(x))


def _orchestration(table: SpanTable, sketches: bool) -> dict[str, Any]:
    cats = category_stats(table)
    durations = category_durations(table) if sketches else {}
    out: dict[str, Any] = {}
    for (group, name), cat in LAYOUT:
        if cat in cats:
            block = out.setdefault(group, {})[name] = _stats(cats[cat])
            if cat in durations:
                block[SKETCH] = sketch_of(durations[cat]).text()
    for name, s in per_round_stats(table).items():
        out.setdefault("propeller", {})[name] = _stats(s) if name in _DURATION_STATS else _counts(s)
    return out


_DURATION_STATS = frozenset({"roundGaps"})  # the other per-round stats are counts (or bytes), not ns


def _counts(s: Stats) -> dict[str, Any]:
    return {"count": s.count, "p50": _num(s.p50), "p90": _num(s.p90), "p99": _num(s.p99), "max": _num(s.max)}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 3)


def report(runs: Sequence[Mapping[str, Any]], name: str | None = None) -> dict[str, Any]:
    """The document: one key (`flyte.benchmark.<name>` or the execution id) over one run or several."""
    if not runs:
        raise ValueError("report of no runs")
    key = f"flyte.benchmark.{name}" if name else str(runs[0].get("execution", ""))
    if len(runs) == 1:
        body = {**runs[0], "method": dict(METHODS)}
    else:
        body = {
            **summarise(runs),
            "method": {**METHODS, "summary": SUMMARY_METHOD},
            "runs": [dict(r) for r in runs],
        }
    return {key: body}


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median over runs of every numeric leaf (text leaves from the first run that has them)."""
    flats = [flatten(r) for r in runs]
    samples: dict[tuple[str, ...], list[Any]] = {}
    for f in flats:
        for path, v in f.items():
            samples.setdefault(path, []).append(v)
    merged: dict[tuple[str, ...], Any] = {}
    for path, vs in samples.items():
        if path[0] in ("warnings", "execution") or path[-1] == SKETCH:  # a run's own, no summary of them
            continue
        kind = field_kind(path)
        if kind == TEXT or not all(isinstance(v, (int, float)) for v in vs):
            merged[path] = vs[0]
        else:
            m = float(np.median(vs))
            merged[path] = m if kind == RATIO else _num(m)
    return unflatten(merged)
