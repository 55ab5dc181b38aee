"""`analyzer.load`: a file, a store directory or raw bytes -> SpanTable, optionally one execution's spans.

The store's files are listed by `analyzer.store` and decoded here, so the store and the decoders never
import each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from analyzer.decode import decode, decode_path, decode_store_file
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import DecodeError, NotFound
from analyzer.execution import select_execution
from analyzer.store.files import default_store, store_files
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["load", "read", "read_store", "read_store_files"]


def load(path_or_bytes: str | Path | bytes, *, exec_id: str | None = None) -> SpanTable:
    """Decode a payload (format auto-detected) or a store directory; with `exec_id`, keep its traces only."""
    table = read(path_or_bytes)
    source = _source(path_or_bytes)
    if exec_id is not None:
        return select_execution(table, exec_id, source)
    found = sorted(map(str, table.df[semconv.EXEC_ID].dropna().unique()))
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        table.warnings.append(
            f"{source}: {len(found)} executions in one input ({shown}); pass exec_id to select one"
        )
    return table


def read(path_or_bytes: str | Path | bytes) -> SpanTable:
    """Every span of a payload or a store directory, no execution selected (see `select_execution`)."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return decode(bytes(path_or_bytes))
    path = Path(path_or_bytes)
    if path.is_dir():
        return read_store(path)
    try:
        return decode_path(path)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as e:
        raise DecodeError(f"{path}: cannot read ({e.strerror})") from None


def _source(path_or_bytes: str | Path | bytes) -> str:
    return (
        "<bytes>" if isinstance(path_or_bytes, bytes | bytearray | memoryview) else str(Path(path_or_bytes))
    )


def read_store(directory: Path | str | None = None) -> SpanTable:
    """Decode every store file. Damage never hides the rest: a damaged record, line or file is skipped with
    a warning naming the file and the byte offset or line, and everything else is read."""
    directory = Path(directory) if directory is not None else default_store()
    cols = Columns(str(directory))
    with gc_paused():
        for path in store_files(directory):
            _read_store_file(path, cols)
        return cols.finish()


def read_store_files(directory: Path | str) -> Iterator[tuple[Path, SpanTable]]:
    """Each store file holding spans, decoded on its own (damage skipped and warned as by `read_store`)."""
    for path in store_files(Path(directory)):
        cols = Columns(str(path.parent))
        with gc_paused():
            _read_store_file(path, cols)
            try:
                table = cols.finish()
            except DecodeError as e:  # not one span of the file could be read
                table = SpanTable(SpanTable.empty().df, [str(e)])
        yield path, table


def _read_store_file(path: Path, cols: Columns) -> None:
    try:
        if path.stat().st_size:  # a writer may have created the file and not written yet
            decode_store_file(path, cols, f"{path.name}: ")
    except OSError as e:
        cols.warn(f"{path.name}: cannot read ({e.strerror}); file skipped")
