"""The search limit: doubled while an answer comes back full, capped at max_limit, then a warning."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from analyzer.source.widen import widen


def _backend(traces: int) -> tuple[list[int], Callable[[int], tuple[str, int]]]:
    """A backend holding `traces` traces: answers min(limit, traces) of them and records each limit asked."""
    asked: list[int] = []

    def ask(limit: int) -> tuple[str, int]:
        asked.append(limit)
        assert len(asked) < 20, f"asked again and again: {asked}"  # a loop that never stops fails, not hangs
        return f"answer at {limit}", min(limit, traces)

    return asked, ask


def test_the_limit_doubles_while_full_and_the_first_answer_not_full_is_kept() -> None:
    asked, ask = _backend(traces=7)
    answer, warnings = widen(ask, limit=2, max_limit=100, backend="B", searched="exec_id=ex")
    assert asked == [2, 4, 8]
    assert (answer, warnings) == ("answer at 8", [])


def test_the_last_step_is_cut_to_max_limit_and_a_full_answer_there_is_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked, ask = _backend(traces=50)
    with caplog.at_level(logging.WARNING):
        answer, warnings = widen(ask, limit=2, max_limit=5, backend="Tempo", searched="exec_id=ex-1")
    assert asked == [2, 4, 5]
    assert answer == "answer at 5"
    assert warnings == [
        "Tempo search for exec_id=ex-1 returned its limit of 5 traces: there may be more; "
        "narrow the window (--start/--end) or raise --max-limit"
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == warnings


def test_a_first_limit_at_the_max_asks_once() -> None:
    asked, ask = _backend(traces=50)
    _, warnings = widen(ask, limit=10, max_limit=10, backend="Jaeger", searched="exec_id=ex")
    assert asked == [10] and len(warnings) == 1


def test_an_answer_exactly_at_the_limit_counts_as_full() -> None:
    asked, ask = _backend(traces=4)
    _, warnings = widen(ask, limit=4, max_limit=100, backend="B", searched="exec_id=ex")
    assert asked == [4, 8] and warnings == []
