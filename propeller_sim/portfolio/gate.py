"""A gate (a timed wait between two tasks).

Bottleneck: a gate node holds the workflow without a pod; propeller re-evaluates it every round until it
opens, so the wait shows as NODE_IDLE (reported apart from overhead) plus the rounds spent polling.
A sleep gate is used so that the workflow runs unattended; `flytekit.approve` behaves the same in propeller.
"""

from __future__ import annotations

from datetime import timedelta

from flytekit import sleep, workflow

from propeller_sim.portfolio._tasks import inc

__all__ = ["gate"]

WAIT = timedelta(seconds=30)


@workflow
def gate(x: int = 0) -> int:
    """inc, then wait WAIT, then inc."""
    y = inc(x=x)
    wait = sleep(WAIT)
    z = inc(x=y)
    y >> wait
    wait >> z
    return z
