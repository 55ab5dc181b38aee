"""Progress of a long read, on stderr: drawn once reading has taken a second, and only on a terminal (never
into a file or a pipe, where it would be `\\r` noise)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["DELAY_S", "SILENT", "Progress", "reading"]

# Seconds of reading before a bar is drawn: quick reads draw nothing.
DELAY_S = 1.0


class Progress(Protocol):
    """Told how many more bytes were read."""

    def update(self, n: int) -> Any:
        """`n` more bytes read."""


class _Silent:
    def update(self, n: int) -> None:
        pass


# A Progress that draws nothing.
SILENT: Progress = _Silent()


@contextmanager
def reading(total: int, what: str) -> Iterator[Progress]:
    """A byte counter for a read of `total` bytes, drawn as a bar (tqdm's `delay`) on a terminal only; off a
    terminal tqdm is not even imported."""
    stream = sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield SILENT
        return
    from tqdm import tqdm

    with tqdm(
        total=total, desc=what, unit="B", unit_scale=True, delay=DELAY_S, leave=False, file=stream
    ) as bar:
        yield bar
