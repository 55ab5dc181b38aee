"""A large static workflow (CRD size growth).

Bottleneck: FlytePropeller keeps every node's status in the FlyteWorkflow custom resource, so each etcd
write grows with the node count (and hits etcd's object size limit); each round also walks the whole DAG.
"""

from __future__ import annotations

from flytekit import workflow
from flytekit.core.workflow import PythonFunctionWorkflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["build"]

NODES = 500
_LANES = 25


def build(nodes: int = NODES) -> PythonFunctionWorkflow:
    """A workflow of `nodes` task nodes: 25 parallel lanes of chained tasks, then one sum (smaller for local runs)."""
    lanes = min(_LANES, nodes)
    depth = max(1, -(-(nodes - 1) // lanes))  # ceil: at least `nodes` task nodes

    def large_workflow(x: int = 0) -> int:
        """`lanes` chains of `depth` tiny tasks, summed."""
        ends = []
        for _ in range(lanes):
            y = x
            for _ in range(depth):
                y = inc(x=y)
            ends.append(y)
        return total(xs=ends)

    return workflow(large_workflow)


large_workflow = build()
