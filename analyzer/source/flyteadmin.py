"""FlyteAdmin's execution metrics: node segments for upstream-dialect traces, which carry no lifecycle records.

``GET /api/v1/metrics/executions/{project}/{domain}/{name}?depth=N`` answers a
``WorkflowExecutionGetMetricsResponse{span: core.Span}`` tree: a workflow span holding operation spans
(WORKFLOW_SETUP, WORKFLOW_TEARDOWN) and node spans; a node span holds NODE_TRANSITION (ready -> queued),
NODE_SETUP, task-attempt spans (TASK_SETUP, TASK_RUNTIME, TASK_TEARDOWN), NODE_RESET between attempts,
NODE_TEARDOWN, and for subworkflows / dynamic nodes their child node spans, for launch plans the child
workflow span. The operation names are the segment names of `analyzer.reduce.segments`, so the tree maps
onto its `ExecutionTimeline` one to one; `merge` puts those segments onto the nodes seen in the trace.

With ``Accept: application/json`` FlyteAdmin's gateway writes proto field names (snake_case); other media
types get grpc-gateway's lowerCamelCase. Both spellings are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from analyzer.errors import AnalyzerError, BackendError, NotFound
from analyzer.reduce import segments as S
from analyzer.source.config import RemoteConfig, parse_time_ns
from analyzer.source.http import HttpClient
from flyte_otel import semconv

METRICS_PATH = "/api/v1/metrics/executions/{project}/{domain}/{name}"
_UNKNOWN_KIND = "unknown"


class FlyteAdminMetrics:
    """Client of FlyteAdmin's GetExecutionMetrics REST endpoint."""

    name = "FlyteAdmin"

    def __init__(self, config: RemoteConfig, *, client: HttpClient | None = None) -> None:
        if not config.admin_url:
            raise AnalyzerError(
                "the FlyteAdmin metrics need --admin-url (or OTEL_FOLD_ADMIN_URL), e.g. http://localhost:8088"
            )
        self.config = config
        self.client = client or HttpClient(config.admin_url, config.http())

    def span_tree(self, exec_id: str) -> dict[str, Any]:
        """The raw `core.Span` tree of an execution ("project/domain/name", or a name with --project/--domain)."""
        project, domain, name = self._identifier(exec_id)
        path = METRICS_PATH.format(project=project, domain=domain, name=name)
        resp = self.client.get(path, {"depth": self.config.admin_depth}, expect=(200, 404))
        if resp.status == 404:
            raise NotFound(f"FlyteAdmin at {self.client.base_url} has no execution {project}/{domain}/{name}")
        try:
            span = json.loads(resp.body)["span"]
        except (ValueError, TypeError, KeyError) as e:
            raise BackendError(
                f"{resp.url}: not a WorkflowExecutionGetMetricsResponse ({type(e).__name__}: {e})"
            ) from None
        if not isinstance(span, dict):
            raise BackendError(f"{resp.url}: span is {type(span).__name__}, not an object")
        return span

    def timeline(self, exec_id: str) -> S.ExecutionTimeline:
        """The execution's nodes and segments as FlyteAdmin computed them."""
        return timeline_from_span(self.span_tree(exec_id))

    def _identifier(self, exec_id: str) -> tuple[str, str, str]:
        parts = exec_id.split("/")
        if len(parts) == 3 and all(parts):
            return parts[0], parts[1], parts[2]
        if self.config.project and self.config.domain:
            return self.config.project, self.config.domain, exec_id
        raise AnalyzerError(
            f"FlyteAdmin needs the execution's project and domain: pass project/domain/{exec_id} "
            f"or --project and --domain (OTEL_FOLD_PROJECT, OTEL_FOLD_DOMAIN)"
        )


def timeline_from_span(span: Mapping[str, Any]) -> S.ExecutionTimeline:
    """A `core.Span` workflow tree (JSON, either field spelling) -> ExecutionTimeline with FlyteAdmin's segments."""
    if _id_of(span)[0] != "workflow_id":
        raise BackendError(
            f"the root of FlyteAdmin's span tree is not a workflow span (has {_id_of(span)[0]})"
        )
    warnings: list[str] = []
    return _execution(span, warnings)


def merge(trace: S.ExecutionTimeline, admin: S.ExecutionTimeline) -> S.ExecutionTimeline:
    """The trace's timeline with FlyteAdmin's segments on its nodes, matched by node id (or its last path part)."""
    by_id: dict[str, str] = {}
    for nid in trace.nodes:
        by_id.setdefault(nid, nid)
        by_id.setdefault(nid.rsplit("/", 1)[-1], nid)  # the trace may name a nested node by its path
    rename = {aid: by_id.get(aid, aid) for aid in admin.nodes}
    nodes: dict[str, S.NodeTimeline] = {}  # FlyteAdmin's nodes (parents first), then those only the trace has
    for aid, n in admin.nodes.items():
        nid = rename[aid]
        nodes[nid] = replace(
            n,
            node_id=nid,
            parent=rename.get(n.parent, n.parent) if n.parent else None,
            children=[rename.get(c, c) for c in n.children],
            waiting=[replace(s, node=nid) for s in n.waiting],
            sections=[replace(s, node=nid) for s in n.sections],
        )
    for nid, n in trace.nodes.items():
        nodes.setdefault(nid, n)
    matched = sum(1 for aid in admin.nodes if aid in by_id)
    note = f"node segments from FlyteAdmin execution metrics ({matched} of {len(admin.nodes)} nodes matched the trace)"
    return S.ExecutionTimeline(
        exec_id=trace.exec_id or admin.exec_id,
        start=min(trace.start, admin.start) if trace.nodes else admin.start,
        end=max(trace.end, admin.end),
        phase=trace.phase or admin.phase,
        nodes=nodes,
        sections=list(admin.sections),
        lifecycle=True,
        warnings=[w for w in trace.warnings if "segments and overheads are not available" not in w]
        + admin.warnings
        + [note],
    )


# --- the tree ---------------------------------------------------------------------------------------------
_ID_FIELDS = ("workflow_id", "node_id", "task_id", "operation_id")


def _execution(span: Mapping[str, Any], warnings: list[str]) -> S.ExecutionTimeline:
    wf = _get(span, "workflow_id") or {}
    start, end = _times(span)
    nodes: dict[str, S.NodeTimeline] = {}
    sections: list[S.Section] = []
    for child in _get(span, "spans") or ():
        kind, value = _id_of(child)
        if kind == "operation_id":
            sections.append(S.Section(str(value), *_times(child)))
        elif kind == "node_id":
            _node(child, None, nodes, warnings)
    return S.ExecutionTimeline(
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
    span: Mapping[str, Any], parent: str | None, nodes: dict[str, S.NodeTimeline], warnings: list[str]
) -> str:
    nid = str(_get(_get(span, "node_id") or {}, "node_id") or "")
    queued, end = _times(span)
    n = nodes[nid] = S.NodeTimeline(
        nid, _UNKNOWN_KIND, parent, (), queued, queued, end, None
    )  # before its children
    for child in _get(span, "spans") or ():
        kind, value = _id_of(child)
        _NODE_CHILD[kind](n, child, value, nodes, warnings)
    if n.children or n.child is not None:
        n.sections = _fill(
            n.sections, queued, end, S.SUBNODES, nid
        )  # FlyteAdmin leaves the children's time bare
    n.sections.sort(key=lambda s: s.start)
    n.kind = next(k for rule, k in _KIND_RULES if rule(n))
    return nid


def _operation(n: S.NodeTimeline, span: Mapping[str, Any], op: Any, *_: Any) -> None:
    s = S.Section(str(op), *_times(span), n.node_id)
    if s.segment == S.NODE_TRANSITION:
        n.waiting.append(s)
        n.ready = min(n.ready, s.start)
    else:
        n.sections.append(s)


def _attempt(n: S.NodeTimeline, span: Mapping[str, Any], task_id: Any, *_: Any) -> None:
    start, end = _times(span)
    a = S.Attempt(int(_get(task_id, "retry_attempt") or 0), start, end, None)
    for child in _get(span, "spans") or ():
        kind, op = _id_of(child)
        if kind != "operation_id":
            continue
        s = S.Section(str(op), *_times(child), n.node_id)
        n.sections.append(s)
        if s.segment == S.TASK_RUNTIME:
            a.user_start, a.user_end = s.start, s.end
    n.attempts.append(a)


def _child_node(
    n: S.NodeTimeline, span: Mapping[str, Any], _: Any, nodes: dict[str, S.NodeTimeline], warnings: list[str]
) -> None:
    n.children.append(_node(span, n.node_id, nodes, warnings))


def _child_execution(n: S.NodeTimeline, span: Mapping[str, Any], *_: Any) -> None:
    n.child = _execution(span, [])
    n.child_exec_id = n.child.exec_id


def _unknown(n: S.NodeTimeline, span: Mapping[str, Any], value: Any, nodes: Any, warnings: list[str]) -> None:
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
_KIND_RULES: tuple[tuple[Callable[[S.NodeTimeline], bool], str], ...] = (
    (lambda n: n.child is not None, semconv.NodeKind.LAUNCH_PLAN),
    (lambda n: bool(n.attempts) and bool(n.children), semconv.NodeKind.DYNAMIC),
    (lambda n: bool(n.children), semconv.NodeKind.SUBWORKFLOW),
    (lambda n: bool(n.attempts), semconv.NodeKind.TASK),
    (lambda n: any(s.segment == S.NODE_IDLE for s in n.sections), semconv.NodeKind.GATE),
    (lambda n: True, _UNKNOWN_KIND),
)


def _fill(sections: list[S.Section], start: int, end: int, segment: str, node: str) -> list[S.Section]:
    """`sections` plus `segment` over every gap they leave in [start, end]."""
    out, at = [], start
    for s in sorted(sections, key=lambda s: s.start):
        if s.start > at:
            out.append(S.Section(segment, at, s.start, node))
        out.append(s)
        at = max(at, s.end)
    if end > at:
        out.append(S.Section(segment, at, end, node))
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


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def _times(span: Mapping[str, Any]) -> tuple[int, int]:
    return _ns(_get(span, "start_time")), _ns(_get(span, "end_time"))


def _ns(value: Any) -> int:
    """protojson Timestamp (RFC 3339, up to 9 fractional digits) -> ns; absent -> 0."""
    if not value:
        return 0
    m = _RFC3339.match(str(value))
    if not m:
        raise BackendError(f"FlyteAdmin metrics: bad timestamp {value!r}")
    whole = parse_time_ns(m.group(1) + m.group(3))
    return whole + int((m.group(2) or "0").ljust(9, "0"))
