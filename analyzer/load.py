"""`analyzer.load`: a file, a store directory or raw bytes -> SpanTable, optionally one execution's spans.

The store's files are listed by `analyzer.store` and decoded here, so the store and the decoders never
import each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from analyzer.decode import decode, decode_path, decode_store_file
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import DecodeError, NotFound
from analyzer.execution import select_execution
from analyzer.indexing import Regions, file_index, regions_to_read, unindexed_regions
from analyzer.progress import Progress, reading
from analyzer.store.files import default_store, store_files
from analyzer.store.index import FileIndex
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["indexed_store", "load", "read", "read_store"]


def load(
    path_or_bytes: str | os.PathLike[str] | bytes | None = None, *, exec_id: str | None = None
) -> SpanTable:
    """Decode a payload (format auto-detected) or a store directory (None: the default store, as
    `otel-fold` reads it); with `exec_id`, keep its traces only."""
    if path_or_bytes is None:
        path_or_bytes = default_store()
    source = _source(path_or_bytes)
    if exec_id is not None:
        return select_execution(_read_for(path_or_bytes, exec_id), exec_id, source)
    table = read(path_or_bytes)
    found = sorted({str(x) for x in table.column(semconv.EXEC_ID) if x is not None})
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        table.warnings.append(
            f"{source}: {len(found)} executions in one input ({shown}); pass exec_id to select one"
        )
    return table


def read(path_or_bytes: str | os.PathLike[str] | bytes) -> SpanTable:
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


def _read_for(path_or_bytes: str | os.PathLike[str] | bytes, exec_id: str) -> SpanTable:
    """What may hold `exec_id`: of a store directory only the records its files' indexes name (as `otel-fold`
    reads it), of anything else everything."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview) or not Path(path_or_bytes).is_dir():
        return read(path_or_bytes)
    return read_store(Path(path_or_bytes), exec_id)


def _source(path_or_bytes: str | os.PathLike[str] | bytes) -> str:
    return (
        "<bytes>" if isinstance(path_or_bytes, bytes | bytearray | memoryview) else str(Path(path_or_bytes))
    )


def read_store(directory: Path | str | None = None, exec_id: str | None = None) -> SpanTable:
    """Decode every store file, or with `exec_id` only the records that the files' indexes say may hold its
    traces (analyzer/store/index.py; the caller selects the execution: `select_execution`). Damage never
    hides the rest: a damaged record, line or file is skipped with a warning naming the file and the byte
    offset or line, and everything else is read."""
    directory = Path(directory) if directory is not None else default_store()
    cols = Columns(str(directory))
    files = store_files(directory)
    with gc_paused(), reading(_size(files), f"reading {directory}") as progress:
        plan = dict.fromkeys(files) if exec_id is None else _plan(files, exec_id, cols, progress)
        for path, regions in plan.items():
            size = 0
            try:
                size = path.stat().st_size
                if regions != [] and size:  # a writer may have created the file, not written
                    decode_store_file(path, cols, f"{path.name}: ", regions)
            except OSError as e:
                cols.warn(f"{path.name}: cannot read ({e.strerror}); file skipped")
            if exec_id is None:  # else the index's scan tells the bytes it reads
                progress.update(size)
        return cols.finish()


def _size(files: list[Path]) -> int:
    total = 0
    for path in files:
        with contextlib.suppress(OSError):  # said when it is read
            total += path.stat().st_size
    return total


def _plan(files: list[Path], exec_id: str, cols: Columns, progress: Progress) -> dict[Path, Regions | None]:
    """Per file, in order, the byte ranges to read for `exec_id`: the records of every trace that any file's
    index says holds one of its spans (so its untagged spans in a file where it is never tagged are read
    too), and what the indexes could not read. A file whose index cannot be made is read whole (None): the
    reading says why it cannot."""
    indexes: dict[Path, tuple[FileIndex, int] | None] = {}
    for path in files:
        try:
            indexes[path] = file_index(path, f"{path.name}: ", progress)
        except OSError:
            indexes[path] = None
    traces = set().union(*(found[0].traces_of(exec_id) for found in indexes.values() if found))
    plan: dict[Path, Regions | None] = {}
    for path, found in indexes.items():
        if found is None:
            plan[path] = None
            continue
        index, size = found
        plan[path] = regions_to_read(index, size, traces)
        if index.holds_any(traces):
            for warning in index.warnings:  # damage between records: it may have held some of its spans
                cols.warn(warning)
    return plan


def indexed_store(directory: Path | str) -> Iterator[tuple[Path, FileIndex | None, SpanTable]]:
    """Each store file's index, brought up to date, and what it says nothing about decoded (the records it
    could not read, what was appended after it; its damage warned): what the store holds, read without
    decoding the records an index covers. A file that cannot be read has no index, and a warning."""
    for path in store_files(Path(directory)):
        where = f"{path.name}: "
        cols = Columns(str(path.parent))
        index = None
        with gc_paused():
            try:
                index, size = file_index(path, where)
                for warning in index.warnings:  # damage between records: it may have held spans
                    cols.warn(warning)
                regions = unindexed_regions(index, size)
                if regions:
                    decode_store_file(path, cols, where, regions)
            except OSError as e:
                cols.warn(f"{path.name}: cannot read ({e.strerror}); file skipped")
            try:
                table = cols.finish()
            except DecodeError as e:  # not one span of what was read could be read
                table = SpanTable.empty().with_warnings([str(e)])
        yield path, index, table
