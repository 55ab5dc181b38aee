"""The small plain structure the simulator runs: a workflow's nodes as flytekit compiled them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flyte_otel.semconv import NodeKind

__all__ = ["END_NODE", "START_NODE", "Plan", "PlanNode", "with_start_end"]

START_NODE = "start-node"  # flyteidl's reserved ids (propeller adds these two to every workflow)
END_NODE = "end-node"


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One node: its id in its workflow, kind, dependencies and what propeller needs to run it."""

    id: str
    kind: str  # a NodeKind value
    upstream: tuple[str, ...] = ()
    retries: int = 0
    cacheable: bool = False
    interruptible: bool = False
    tasktype: str | None = None
    task: str | None = None  # task name (for cache keys and failure plans)
    array_size: int = 0
    array_parallelism: int = 0  # 0: unbounded
    gate_wait_s: float = 0.0
    sub: Plan | None = None  # subworkflow, launch plan child, dynamic's compiled DAG, branch's chosen node


@dataclass(frozen=True, slots=True)
class Plan:
    """A workflow: nodes in topological order, with start and end nodes first and last."""

    name: str
    nodes: tuple[PlanNode, ...]
    max_parallelism: int = 0  # 0: unbounded

    def count(self) -> int:
        """Nodes in this plan and every nested plan, start and end nodes included."""
        return sum(1 + (n.sub.count() if n.sub is not None else 0) for n in self.nodes)


def with_start_end(name: str, nodes: list[PlanNode], max_parallelism: int = 0) -> Plan:
    """Wrap nodes in propeller's start and end nodes (roots hang off start, sinks feed end) and sort them."""
    ids = {n.id for n in nodes}
    fed = {u for n in nodes for u in n.upstream}
    body = [n if n.upstream else _replace_upstream(n, (START_NODE,)) for n in nodes]
    body = [_replace_upstream(n, tuple(u for u in n.upstream if u in ids or u == START_NODE)) for n in body]
    sinks = tuple(n.id for n in nodes if n.id not in fed)
    start = PlanNode(START_NODE, NodeKind.START)
    end = PlanNode(END_NODE, NodeKind.END, upstream=sinks or (START_NODE,))
    return Plan(name, (start, *_topological(body), end), max_parallelism)


def _replace_upstream(n: PlanNode, upstream: tuple[str, ...]) -> PlanNode:
    return replace(n, upstream=upstream or (START_NODE,))


def _topological(nodes: list[PlanNode]) -> list[PlanNode]:
    done: set[str] = {START_NODE}
    out: list[PlanNode] = []
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if all(u in done for u in n.upstream)]
        if not ready:
            raise ValueError(f"workflow has a cycle among nodes {sorted(n.id for n in pending)}")
        for n in ready:
            done.add(n.id)
            out.append(n)
        pending = [n for n in pending if n.id not in done]
    return out
