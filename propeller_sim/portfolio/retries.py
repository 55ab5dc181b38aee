"""Retries with failures.

Bottleneck: each failed attempt costs a full pod lifecycle plus the reset between attempts (events, etcd
writes, backoff), reported as `retried` time and NODE_RESET.
"""

from __future__ import annotations

from flytekit import workflow

from propeller_sim.portfolio._tasks import flaky_inc, inc

__all__ = ["retries"]

FAILURES = 2


@workflow
def retries(x: int = 0, fail_attempts: int = FAILURES) -> int:
    """A flaky task (fails its first `fail_attempts` attempts on a cluster, retries=3) between two tiny ones."""
    return inc(x=flaky_inc(x=inc(x=x), fail_attempts=fail_attempts))
