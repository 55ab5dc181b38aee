"""FlyteAdmin's segments put onto the nodes a trace shows (upstream traces carry no lifecycle records).

FlyteAdmin names a nested node by a unique id (`n1-0-n0`: parent id, parent attempt, spec id; hashed past 20
characters), upstream spans by the path of spec ids (`n1/n0`, docs/upstream.md §2). `by_path` renames
FlyteAdmin's nodes to those paths, from each node's spec id (ListNodeExecutions' `metadata.spec_node_id`) and
its place in the metrics tree; `merge` then matches the trace's nodes exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from analyzer.decode.flyteadmin import AdminExecution, AdminNode
from analyzer.results import timeline as TL

__all__ = ["by_path", "merge"]


def by_path(
    admin: TL.ExecutionTimeline,
    nodes: Mapping[str, AdminNode],
    attempt_phases: Mapping[str, Mapping[int, str]],
) -> TL.ExecutionTimeline:
    """`admin`'s nodes keyed by their path of spec ids, with the phases of their node and task executions."""
    paths: dict[str, str] = {}

    def path(uid: str) -> str:
        if uid not in paths:
            parent = admin.nodes[uid].parent if uid in admin.nodes else None
            local = nodes[uid].spec_id if uid in nodes and nodes[uid].spec_id else _local_id(uid, parent)
            paths[uid] = local if parent is None else f"{path(parent)}/{local}"
        return paths[uid]

    renamed: dict[str, TL.NodeTimeline] = {}
    for uid, n in admin.nodes.items():
        nid = path(uid)
        phases = attempt_phases.get(uid, {})
        renamed[nid] = replace(
            n,
            node_id=nid,
            parent=path(n.parent) if n.parent else None,
            children=[path(c) for c in n.children],
            phase=nodes[uid].phase if uid in nodes else n.phase,
            attempts=[replace(a, phase=phases.get(a.number, a.phase)) for a in n.attempts],
            waiting=[replace(s, node=nid) for s in n.waiting],
            sections=[replace(s, node=nid) for s in n.sections],
        )
    return replace(admin, nodes=renamed)


def _split_runtime(sections: list[TL.Section], code: list[tuple[int, int]]) -> list[TL.Section]:
    """FlyteAdmin's TASK_RUNTIME (the container's run, from task events) cut where the task pod's own spans put
    the user's function (docs/pod_spans.md), clamped to the section: an attempt's own pieces, as the records'."""
    out: list[TL.Section] = []
    for s in sections:
        c = next(
            (c for c in code if s.segment == TL.TASK_RUNTIME and s.start <= c[1] and c[0] <= s.end), None
        )
        if c is None:
            out.append(s)
            continue
        c0 = min(max(c[0], s.start), s.end)
        run = TL.Attempt(
            0, s.start, s.end, None, s.start, s.end, code_start=c0, code_end=min(max(c[1], c0), s.end)
        )
        out += run.sections(s.node, last=True)
    return out


def _local_id(uid: str, parent: str | None) -> str:
    """The spec id inside a unique id `<parent>-<attempt>-<spec id>`, when no node execution names it."""
    if parent is not None and uid.startswith(parent + "-"):
        attempt, sep, local = uid[len(parent) + 1 :].partition("-")
        if sep and attempt.isdigit() and local:
            return local
    return uid


def merge(trace: TL.ExecutionTimeline, answer: AdminExecution) -> TL.ExecutionTimeline:
    """The trace's timeline with FlyteAdmin's segments and phases on its nodes, matched by path."""
    admin = by_path(answer.tree, answer.nodes, answer.attempt_phases)
    for nid, n in admin.nodes.items():
        pods = trace.nodes[nid].attempts if nid in trace.nodes else []
        code = [
            (a.code_start, a.code_end) for a in pods if a.code_start is not None and a.code_end is not None
        ]
        n.sections = _split_runtime(n.sections, code)
    nodes: dict[str, TL.NodeTimeline] = dict(admin.nodes)  # FlyteAdmin's nodes (parents first)
    for nid, n in trace.nodes.items():
        nodes.setdefault(nid, n)  # then those only the trace has
    matched = sum(1 for nid in admin.nodes if nid in trace.nodes)
    note = (
        f"node segments from FlyteAdmin ({matched} of {len(admin.nodes)} FlyteAdmin nodes matched a node of the "
        f"trace by path; {len(trace.nodes) - matched} of the trace's nodes have none)"
    )
    return TL.ExecutionTimeline(
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
