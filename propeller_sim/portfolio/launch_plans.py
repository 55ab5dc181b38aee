"""Launch plans (child executions).

Bottleneck: a launch plan node creates a separate execution through FlyteAdmin: a new CRD, its own rounds
and events, and the parent polls the child's status, so each child adds an execution's fixed cost.
"""

from __future__ import annotations

from flytekit import LaunchPlan, workflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["child", "launch_plans"]

CHILDREN = 3


@workflow
def child(x: int = 0) -> int:
    """Two tiny tasks."""
    return inc(x=inc(x=x))


child_lp = LaunchPlan.get_or_create(child, name="portfolio.child_lp")


@workflow
def launch_plans(x: int = 0) -> int:
    """CHILDREN child executions in parallel, summed."""
    return total(xs=[child_lp(x=x) for _ in range(CHILDREN)])
