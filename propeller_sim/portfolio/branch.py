"""A branch (conditional).

Bottleneck: a branch node evaluates its condition in propeller (no pod) and then runs the chosen node as a
child, adding a node level, events and a status write to a path that does no user work.
"""

from __future__ import annotations

from flytekit import conditional, workflow

from propeller_sim.portfolio._tasks import inc, square

__all__ = ["branch"]


@workflow
def branch(x: int = 3) -> int:
    """Increment x; square it if it is now above 3, else increment it again; then increment the result."""
    y = inc(x=x)
    z = conditional("parity").if_(y > 3).then(square(x=y)).else_().then(inc(x=y))
    return inc(x=z)
