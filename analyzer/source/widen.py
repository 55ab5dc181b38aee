"""A search cut by its limit is asked again with the limit doubled, up to a cap, and a full answer at the cap is reported.

Tempo and Jaeger both answer at most `limit` traces without saying whether there were more: a full answer
is the only sign, so it is never taken as the whole (DESIGN.md: nothing is silently cut).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

__all__ = ["widen"]

log = logging.getLogger(__name__)

A = TypeVar("A")  # whatever one search answers


def widen(
    ask: Callable[[int], tuple[A, int]], *, limit: int, max_limit: int, backend: str, searched: str
) -> tuple[A, list[str]]:
    """`ask(limit)` -> (answer, traces in it), doubling the limit while full up to max_limit: the last answer,
    warnings. `searched` says what the search was for (``exec_id=X``), for the warning."""
    while True:
        answer, returned = ask(limit)
        if returned < limit:
            return answer, []
        if limit >= max_limit:
            warning = (
                f"{backend} search for {searched} returned its limit of {limit} traces: "
                f"there may be more; narrow the window (--start/--end) or raise --max-limit"
            )
            log.warning("%s", warning)
            return answer, [warning]
        limit = min(limit * 2, max_limit)
        log.info("%s search came back full; asking again with limit=%d", backend, limit)
