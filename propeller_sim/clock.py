"""Clocks for the simulator: virtual (fast, exact; time moves only when an operation spends it) or real time."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """Where the simulator reads and spends time."""

    virtual: bool

    def now(self) -> int:
        """Current time, ns since the epoch."""
        ...

    def spend(self, ns: int) -> None:
        """An operation takes `ns`."""
        ...

    def wait_until(self, at: int) -> None:
        """Idle until `at` (a worker picks up the next wake-up)."""
        ...


class VirtualClock:
    """Time is a number: spending adds to it, waiting sets it (it may go back when another worker's round runs)."""

    virtual = True

    def __init__(self, start_ns: int | None = None) -> None:
        self.t = time.time_ns() if start_ns is None else start_ns

    def now(self) -> int:
        """Current virtual time."""
        return self.t

    def spend(self, ns: int) -> None:
        """Advance by `ns`."""
        self.t += ns

    def wait_until(self, at: int) -> None:
        """Jump to `at`."""
        self.t = at


class RealClock:
    """Wall time: spending an operation's latency sleeps for it."""

    virtual = False

    def __init__(self) -> None:
        self._sleep = time.sleep

    def now(self) -> int:
        """Wall time."""
        return time.time_ns()

    def spend(self, ns: int) -> None:
        """Sleep for `ns`."""
        self._sleep(ns / 1e9)

    def wait_until(self, at: int) -> None:
        """Sleep until `at` if it is in the future."""
        delay = at - time.time_ns()
        if delay > 0:
            self._sleep(delay / 1e9)
