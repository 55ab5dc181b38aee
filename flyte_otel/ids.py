"""Deterministic ids for one trace per execution, and the id generator that lets a record pin its ids."""

from __future__ import annotations

import hashlib
import random
import threading
from functools import lru_cache

__all__ = ["PinnedIdGenerator", "attempt_span_id", "execution_ids", "new_span_id", "pin", "unpin"]


@lru_cache(maxsize=4096)
def execution_ids(exec_id: str) -> tuple[int, int]:
    """(trace id, root span id) of an execution: sha256(exec_id) bytes 0-15 and 16-23, never zero."""
    digest = hashlib.sha256(exec_id.encode()).digest()
    return _nonzero(int.from_bytes(digest[:16], "big")), _nonzero(int.from_bytes(digest[16:24], "big"))


@lru_cache(maxsize=4096)
def attempt_span_id(exec_id: str, node: str, attempt: int, array_index: int | None = None) -> int:
    """A task attempt's span id, derived from what both sides know: propeller records the attempt, the task
    pod (docs/pod_spans.md) hangs its spans under it. sha256 of the four, NUL-separated, bytes 0-7."""
    key = "\0".join((exec_id, node, str(attempt), "" if array_index is None else str(array_index)))
    return _nonzero(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _nonzero(value: int) -> int:
    # An all-zero id is invalid in OpenTelemetry (the span would be dropped); the odds are 2^-64.
    return value or 1


def new_span_id() -> int:
    """A random, valid 64-bit span id (for records whose children need the id before the span exists)."""
    return random.getrandbits(64) or 1


class _Pins(threading.local):
    trace = 0
    span = 0


_PINS = _Pins()


def pin(trace_id: int, span_id: int) -> None:
    """Make this thread's next span use these ids (0: generate as usual)."""
    _PINS.trace = trace_id
    _PINS.span = span_id


def unpin() -> None:
    """Drop unused pins, so a span the SDK did not create cannot pass them on to the next one."""
    _PINS.trace = 0
    _PINS.span = 0


class PinnedIdGenerator:
    """An SDK IdGenerator (duck-typed: the SDK only calls these methods) honouring this thread's pins."""

    def generate_span_id(self) -> int:
        """The pinned span id if any, else a random one."""
        pinned = _PINS.span
        if pinned:
            _PINS.span = 0
            return pinned
        return random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        """The pinned trace id if any, else a random one."""
        pinned = _PINS.trace
        if pinned:
            _PINS.trace = 0
            return pinned
        return random.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        """Not promised: pinned trace ids are hashes (W3C's random-trace-id flag stays unset)."""
        return False
