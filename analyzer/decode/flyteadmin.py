"""FlyteAdmin's execution metrics -> the node timeline with FlyteAdmin's own segments.

``GET /api/v1/metrics/executions/{project}/{domain}/{name}?depth=N`` answers a
``WorkflowExecutionGetMetricsResponse{span: core.Span}`` tree: a workflow span holding operation spans
(WORKFLOW_SETUP, WORKFLOW_TEARDOWN) and node spans; a node span holds NODE_TRANSITION (ready -> queued),
NODE_SETUP, task-attempt spans (TASK_SETUP, TASK_RUNTIME, TASK_TEARDOWN), NODE_RESET between attempts,
NODE_TEARDOWN, and for subworkflows / dynamic nodes their child node spans, for launch plans the child
workflow span. The operation names are the segment names of `analyzer.results.timeline`, so the tree maps
onto an `ExecutionTimeline` one to one.

With ``Accept: application/json`` FlyteAdmin's gateway writes proto field names (snake_case); other media
types get grpc-gateway's lowerCamelCase. Both spellings are read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.errors import DecodeError
from analyzer.results import timeline as TL
from analyzer.units import parse_rfc3339
from flyte_otel import semconv

__all__ = [
    "AdminExecution",
    "AdminNode",
    "decode_metrics",
    "decode_node_executions",
    "decode_task_executions",
    "timeline_from_span",
]

_UNKNOWN_KIND = "unknown"


@dataclass(frozen=True)
class AdminNode:
    """One node execution as ListNodeExecutions gives it (flyteidl admin/node_execution.proto)."""

    unique_id: str  # id.node_id: FlyteAdmin's unique id, e.g. n1-0-n0 (hashed past 20 characters)
    spec_id: str  # metadata.spec_node_id: the node's id in its own (sub)workflow
    parent: str | None  # the unique id of the node it was listed under (unique_parent_id)
    phase: str | None  # closure.phase, e.g. SUCCEEDED
    is_parent: bool  # metadata.is_parent_node: it has node executions of its own


@dataclass(frozen=True)
class AdminExecution:
    """What FlyteAdmin says of one execution: the metrics tree (nodes by unique id), its node executions by
    unique id, and the attempt phases of its retried nodes."""

    tree: TL.ExecutionTimeline
    nodes: Mapping[str, AdminNode]
    attempt_phases: Mapping[str, Mapping[int, str]]


def decode_node_executions(body: bytes, source: str, parent: str | None) -> tuple[list[AdminNode], str]:
    """A NodeExecutionList page (JSON) -> its nodes and the next page's token ("" on the last)."""
    doc = _page(body, source, "node_executions")
    nodes = []
    for ne in _get(doc, "node_executions") or ():
        meta = _get(ne, "metadata") or {}
        uid = str(_get(_get(ne, "id") or {}, "node_id") or "")
        if not uid:
            raise DecodeError(f"{source}: a node execution without id.node_id")
        phase = _get(_get(ne, "closure") or {}, "phase")
        nodes.append(
            AdminNode(
                uid,
                str(_get(meta, "spec_node_id") or ""),
                parent,
                None if phase is None else str(phase),
                bool(_get(meta, "is_parent_node")),
            )
        )
    return nodes, str(_get(doc, "token") or "")


def decode_task_executions(body: bytes, source: str) -> tuple[dict[int, str], str]:
    """A TaskExecutionList page (JSON) -> {retry attempt: phase} and the next page's token."""
    doc = _page(body, source, "task_executions")
    phases: dict[int, str] = {}
    for te in _get(doc, "task_executions") or ():
        attempt = int(_get(_get(te, "id") or {}, "retry_attempt") or 0)
        phases[attempt] = str(_get(_get(te, "closure") or {}, "phase") or "UNDEFINED")
    return phases, str(_get(doc, "token") or "")


def _page(body: bytes, source: str, key: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise DecodeError(f"{source}: not JSON ({e})") from None
    items = _get(doc, key) if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(items if items is not None else [], list):
        raise DecodeError(f"{source}: not a {key} list")
    return doc


def decode_metrics(body: bytes, source: str) -> TL.ExecutionTimeline:
    """A GetExecutionMetrics answer (JSON) -> its timeline; DecodeError naming `source` if it is not one."""
    try:
        span = json.loads(body)["span"]
    except (ValueError, TypeError, KeyError) as e:
        raise DecodeError(
            f"{source}: not a WorkflowExecutionGetMetricsResponse ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(span, dict):
        raise DecodeError(f"{source}: span is {type(span).__name__}, not an object")
    return timeline_from_span(span)


def timeline_from_span(span: Mapping[str, Any]) -> TL.ExecutionTimeline:
    """A `core.Span` workflow tree (JSON, either field spelling) -> ExecutionTimeline with FlyteAdmin's segments."""
    if _id_of(span)[0] != "workflow_id":
        raise DecodeError(
            f"the root of FlyteAdmin's span tree is not a workflow span (has {_id_of(span)[0]})"
        )
    warnings: list[str] = []
    return _execution(span, warnings)


# --- the tree ---------------------------------------------------------------------------------------------
_ID_FIELDS = ("workflow_id", "node_id", "task_id", "operation_id")


def _execution(span: Mapping[str, Any], warnings: list[str]) -> TL.ExecutionTimeline:
    wf = _get(span, "workflow_id") or {}
    start, end = _times(span)
    nodes: dict[str, TL.NodeTimeline] = {}
    sections: list[TL.Section] = []
    for child in _get(span, "spans") or ():
        kind, value = _id_of(child)
        if kind == "operation_id":
            sections.append(TL.Section(str(value), *_times(child)))
        elif kind == "node_id":
            _node(child, None, nodes, warnings)
    return TL.ExecutionTimeline(
        exec_id=str(wf.get("name", "")),
        start=start,
        end=end,
        phase=None,
        nodes=nodes,
        sections=sorted(sections, key=lambda s: s.start),
        lifecycle=True,
        warnings=warnings,
    )


def _node(
    span: Mapping[str, Any], parent: str | None, nodes: dict[str, TL.NodeTimeline], warnings: list[str]
) -> str:
    nid = str(_get(_get(span, "node_id") or {}, "node_id") or "")
    queued, end = _times(span)
    n = nodes[nid] = TL.NodeTimeline(
        nid, _UNKNOWN_KIND, parent, (), queued, queued, end, None
    )  # before its children
    for child in _get(span, "spans") or ():
        kind, value = _id_of(child)
        _NODE_CHILD[kind](n, child, value, nodes, warnings)
    if n.children or n.child is not None:
        n.sections = _fill(
            n.sections, queued, end, TL.SUBNODES, nid
        )  # FlyteAdmin leaves the children's time bare
    n.sections.sort(key=lambda s: s.start)
    n.kind = next(k for rule, k in _KIND_RULES if rule(n))
    return nid


def _operation(n: TL.NodeTimeline, span: Mapping[str, Any], op: Any, *_: Any) -> None:
    s = TL.Section(str(op), *_times(span), n.node_id)
    if s.segment == TL.NODE_TRANSITION:
        n.waiting.append(s)
        n.ready = min(n.ready, s.start)
    else:
        n.sections.append(s)


def _attempt(n: TL.NodeTimeline, span: Mapping[str, Any], task_id: Any, *_: Any) -> None:
    start, end = _times(span)
    a = TL.Attempt(int(_get(task_id, "retry_attempt") or 0), start, end, None)
    for child in _get(span, "spans") or ():
        kind, op = _id_of(child)
        if kind != "operation_id":
            continue
        s = TL.Section(str(op), *_times(child), n.node_id)
        n.sections.append(s)
        if s.segment == TL.TASK_RUNTIME:
            a.user_start, a.user_end = s.start, s.end
    n.attempts.append(a)


def _child_node(
    n: TL.NodeTimeline,
    span: Mapping[str, Any],
    _: Any,
    nodes: dict[str, TL.NodeTimeline],
    warnings: list[str],
) -> None:
    n.children.append(_node(span, n.node_id, nodes, warnings))


def _child_execution(n: TL.NodeTimeline, span: Mapping[str, Any], *_: Any) -> None:
    n.child = _execution(span, [])
    n.child_exec_id = n.child.exec_id


def _unknown(
    n: TL.NodeTimeline, span: Mapping[str, Any], value: Any, nodes: Any, warnings: list[str]
) -> None:
    warnings.append(
        f"FlyteAdmin metrics: a span under node {n.node_id} has no id; skipped it ({_times(span)})"
    )


# What a node span's child is, by its id field.
_NODE_CHILD: dict[str | None, Callable[..., None]] = {
    "operation_id": _operation,
    "task_id": _attempt,
    "node_id": _child_node,
    "workflow_id": _child_execution,
    None: _unknown,
}
# A node's kind from what FlyteAdmin's tree shows of it: first matching rule wins.
_KIND_RULES: tuple[tuple[Callable[[TL.NodeTimeline], bool], str], ...] = (
    (lambda n: n.child is not None, semconv.NodeKind.LAUNCH_PLAN),
    (lambda n: bool(n.attempts) and bool(n.children), semconv.NodeKind.DYNAMIC),
    (lambda n: bool(n.children), semconv.NodeKind.SUBWORKFLOW),
    (lambda n: bool(n.attempts), semconv.NodeKind.TASK),
    (lambda n: any(s.segment == TL.NODE_IDLE for s in n.sections), semconv.NodeKind.GATE),
    (lambda n: True, _UNKNOWN_KIND),
)


def _fill(sections: list[TL.Section], start: int, end: int, segment: str, node: str) -> list[TL.Section]:
    """`sections` plus `segment` over every gap they leave in [start, end]."""
    out, at = [], start
    for s in sorted(sections, key=lambda s: s.start):
        if s.start > at:
            out.append(TL.Section(segment, at, s.start, node))
        out.append(s)
        at = max(at, s.end)
    if end > at:
        out.append(TL.Section(segment, at, end, node))
    return out


def _id_of(span: Mapping[str, Any]) -> tuple[str | None, Any]:
    for f in _ID_FIELDS:
        v = _get(span, f)
        if v not in (None, "", {}):
            return f, v
    return None, None


def _get(d: Mapping[str, Any], snake: str) -> Any:
    """A field by its proto name, else by its lowerCamelCase JSON name."""
    if snake in d:
        return d[snake]
    head, *rest = snake.split("_")
    return d.get(head + "".join(p.title() for p in rest))


def _times(span: Mapping[str, Any]) -> tuple[int, int]:
    return _ns(_get(span, "start_time")), _ns(_get(span, "end_time"))


def _ns(value: Any) -> int:
    """protojson Timestamp (RFC 3339, up to 9 fractional digits) -> ns; absent -> 0."""
    if not value:
        return 0
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise DecodeError(f"FlyteAdmin metrics: bad timestamp {value!r}") from None
