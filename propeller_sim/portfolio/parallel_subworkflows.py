"""Parallel subworkflows.

Bottleneck: subworkflows run inside the parent's CRD (no new execution) but add start/end nodes, nesting in
the status and node events per level; several in parallel stress one round's streaks.
"""

from __future__ import annotations

from flytekit import workflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["parallel_subworkflows", "sub"]

BRANCHES = 4


@workflow
def sub(x: int) -> int:
    """Two tiny tasks in a chain."""
    return inc(x=inc(x=x))


@workflow
def parallel_subworkflows(x: int = 0) -> int:
    """BRANCHES subworkflows in parallel, summed."""
    return total(xs=[sub(x=x) for _ in range(BRANCHES)])
