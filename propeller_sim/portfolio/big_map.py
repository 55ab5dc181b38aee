"""A large fan-out map (array) task.

Bottleneck: one array node with thousands of sub-tasks: per sub-task pods, the array node's status in the
CRD, sub-task events (and their batching) and the blobstore reads/writes of every sub-task's inputs/outputs.
"""

from __future__ import annotations

from flytekit import map_task, workflow

from propeller_sim.portfolio._tasks import span, square, total

__all__ = ["big_map"]

SIZE = 5000


@workflow
def big_map(n: int = SIZE) -> int:
    """Square 0..n-1 in a map task of n sub-tasks, then sum."""
    return total(xs=map_task(square)(x=span(n=n)))
