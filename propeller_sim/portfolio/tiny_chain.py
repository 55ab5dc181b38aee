"""Short-running tasks in a chain.

Bottleneck: per-node fixed cost (propeller rounds, etcd writes, events, pod start) dominates when user code
is tiny, and a chain pays it serially: the workflow's duration is almost all Flyte and Kubernetes overhead.
"""

from __future__ import annotations

from flytekit import workflow

from propeller_sim.portfolio._tasks import inc

__all__ = ["tiny_chain"]

LENGTH = 10


@workflow
def tiny_chain(x: int = 0) -> int:
    """LENGTH tiny tasks, each waiting for the previous one."""
    for _ in range(LENGTH):
        x = inc(x=x)
    return x
