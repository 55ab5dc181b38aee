"""Where rendered text goes: standard output, or a file named on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from analyzer.errors import AnalyzerError

__all__ = ["emit"]


def emit(text: str, path: str | Path | None, what: str) -> None:
    """Write `text` to `path`, or to standard output when there is none; a file that cannot be written is
    an AnalyzerError naming it and `what` it was to hold."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise AnalyzerError(f"{path}: cannot write the {what} ({e.strerror})") from None
