"""Read every ``*.binpb`` / ``*.jsonl`` file of a store directory into one SpanTable."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.decode import decode_file
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import DecodeError, NotFound
from analyzer.store.framing import SUFFIXES
from analyzer.table import SpanTable

STORE_ENV = "OTEL_FOLD_STORE"


def default_store() -> Path:
    """``$OTEL_FOLD_STORE``, else ``~/.local/share/otel-fold/store``."""
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else Path.home() / ".local" / "share" / "otel-fold" / "store"


def store_files(directory: Path) -> list[Path]:
    """The store's data files, in name order (not recursive)."""
    if not directory.is_dir():
        raise NotFound(f"no trace store at {directory}")
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)


def read_store(directory: Path | str | None = None) -> SpanTable:
    """Decode every store file; a damaged file is a DecodeError naming it, a cut-off last record a warning."""
    directory = Path(directory) if directory is not None else default_store()
    cols = Columns(str(directory))
    with gc_paused():
        return _read_files(directory, cols)


def _read_files(directory: Path, cols: Columns) -> SpanTable:
    for path in store_files(directory):
        try:
            if path.stat().st_size:  # a writer may have created the file and not written yet
                decode_file(path, cols, f"{path.name}: ")
        except OSError as e:
            raise DecodeError(f"{path}: cannot read ({e.strerror})") from None
    return cols.finish()
