"""A wide workflow limited by max parallelism.

Bottleneck: the launch plan's max_parallelism caps how many nodes run at once, so ready nodes wait in
propeller (NODE_IDLE, reason max_parallelism) and the workflow takes WIDTH / LIMIT waves of pod start-up.
"""

from __future__ import annotations

from flytekit import LaunchPlan, workflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["wide"]

WIDTH = 30
LIMIT = 5


@workflow
def wide(x: int = 0) -> int:
    """WIDTH tiny tasks in parallel, summed."""
    return total(xs=[inc(x=x) for _ in range(WIDTH)])


max_parallelism = LaunchPlan.get_or_create(wide, name="portfolio.max_parallelism", max_parallelism=LIMIT)
