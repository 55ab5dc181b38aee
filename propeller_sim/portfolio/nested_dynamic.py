"""Nested dynamic workflows.

Bottleneck: a dynamic node runs a pod that compiles a DAG at runtime; propeller then reads the compiled
futures file from the blobstore and runs the sub-DAG inside the parent's CRD, so each nesting level adds a
pod, blobstore round trips and a larger status.
"""

from __future__ import annotations

from flytekit import dynamic, workflow

from propeller_sim.portfolio._tasks import inc, total

__all__ = ["inner", "nested_dynamic", "outer"]

FANOUT = 3


@dynamic
def inner(x: int, width: int) -> int:
    """`width` tiny tasks in parallel, summed."""
    return total(xs=[inc(x=x) for _ in range(width)])


@dynamic
def outer(x: int, width: int) -> int:
    """`width` inner dynamic workflows in parallel, summed."""
    return total(xs=[inner(x=x, width=width) for _ in range(width)])


@workflow
def nested_dynamic(x: int = 0, width: int = FANOUT) -> int:
    """A dynamic that launches dynamics."""
    return outer(x=x, width=width)
