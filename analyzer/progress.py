"""Progress bars on stderr, the one place otel-fold draws them: only on a terminal (never into a file or a pipe,
where a bar is `\\r` noise), and tqdm is imported only then. A store read's bar waits a second before it shows."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["DELAY_S", "SILENT", "Progress", "bar", "reading"]

# Seconds of reading before a read's bar is drawn: quick reads draw nothing.
DELAY_S = 1.0


class Progress(Protocol):
    """Told how far the work has gone."""

    def update(self, n: int = 1) -> Any:
        """`n` more units done."""

    def set_postfix_str(self, s: str) -> Any:
        """What is being worked on now, shown after the bar."""


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


# A Progress that draws nothing.
SILENT: Progress = _Silent()


@contextmanager
def bar(
    total: int, what: str, unit: str, *, delay: float = 0.0, unit_scale: bool = False
) -> Iterator[Progress]:
    """A bar of `total` `unit`s on stderr when stderr is a terminal, drawn once `delay` seconds have passed and
    cleared when done; else SILENT."""
    stream = sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield SILENT
        return
    from tqdm import tqdm

    with tqdm(
        total=total, desc=what, unit=unit, unit_scale=unit_scale, delay=delay, leave=False, file=stream
    ) as drawn:
        yield drawn


def reading(total: int, what: str) -> Any:
    """A byte counter for a read of `total` bytes, drawn after DELAY_S (a context manager giving a Progress)."""
    return bar(total, what, "B", delay=DELAY_S, unit_scale=True)
