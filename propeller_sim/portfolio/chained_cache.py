"""Chained cache hits.

Bottleneck: a cache hit runs no pod, but still costs a data catalog look-up, a copy of the cached outputs
in the blobstore, events and an etcd write per node; a chain of hits shows that floor with no user code.
The first execution fills the cache, every later one with the same input is all hits.
"""

from __future__ import annotations

from flytekit import workflow

from propeller_sim.portfolio._tasks import cached_inc

__all__ = ["chained_cache"]

LENGTH = 8


@workflow
def chained_cache(x: int = 0) -> int:
    """LENGTH cached tasks in a chain."""
    for _ in range(LENGTH):
        x = cached_inc(x=x)
    return x
