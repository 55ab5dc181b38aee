"""FlyteAdmin's segments put onto the nodes a trace shows (upstream traces carry no lifecycle records)."""

from __future__ import annotations

from dataclasses import replace

from analyzer.results import timeline as TL

__all__ = ["merge"]


def merge(trace: TL.ExecutionTimeline, admin: TL.ExecutionTimeline) -> TL.ExecutionTimeline:
    """The trace's timeline with FlyteAdmin's segments on its nodes, matched by node id (or its last path part)."""
    by_id: dict[str, str] = {}
    for nid in trace.nodes:
        by_id.setdefault(nid, nid)
        by_id.setdefault(nid.rsplit("/", 1)[-1], nid)  # the trace may name a nested node by its path
    rename = {aid: by_id.get(aid, aid) for aid in admin.nodes}
    # FlyteAdmin's nodes (parents first), then those only the trace has
    nodes: dict[str, TL.NodeTimeline] = {}
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
