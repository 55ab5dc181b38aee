"""The library's mutable state: on/off, the tracers, the clock. Read on every helper call, so kept flat."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("flyte_otel")


class _Runtime:
    # Slots keep the per-call attribute reads (`RT.on`, `RT.clock`) as cheap as a global lookup.
    __slots__ = ("on", "tracer", "tracers", "one_trace", "clock", "root_sampled", "_warned")

    def __init__(self) -> None:
        self.on = False
        self.tracer: Any = None  # the SDK tracer of the configured service
        self.tracers: dict[str, Any] = {}  # upstream service name -> tracer (all == tracer unless split)
        self.one_trace = False
        self.clock: Callable[[], int] | None = None
        self.root_sampled: Callable[[int], bool] = lambda _trace_id: True
        self._warned: set[str] = set()


RT = _Runtime()


def set_clock(now_ns: Callable[[], int] | None) -> None:
    """Read every helper's start and end from `now_ns()` (a virtual clock); None restores wall time."""
    RT.clock = now_ns


def now_ns() -> int:
    """The current time on the configured clock, in ns since the epoch."""
    clock = RT.clock
    return clock() if clock is not None else time.time_ns()


def is_enabled() -> bool:
    """True when configure() installed a tracer provider and helpers emit spans."""
    return RT.on


def warn_once(what: str, exc: BaseException) -> None:
    """Log an internal failure at WARNING the first time it happens; instrumentation never raises."""
    if what in RT._warned:
        return
    RT._warned.add(what)
    _log.warning("flyte_otel: %s failed (further failures of this kind are not logged): %r", what, exc)
