"""Short-running tasks in parallel.

Bottleneck: many nodes become ready in the same round; propeller's streak length bounds how many changes
one round commits, and every pod is created, scheduled and started at once (k8s API and scheduler burst).
"""

from __future__ import annotations

from flytekit import workflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["tiny_parallel"]

WIDTH = 20


@workflow
def tiny_parallel(x: int = 0) -> int:
    """WIDTH tiny tasks with no dependencies between them, then one that sums them."""
    return total(xs=[inc(x=x) for _ in range(WIDTH)])
