"""Keeping store files' indexes up to date (analyzer/store/index.py): what was appended since an index was
saved is scanned and added; a file with no usable index is scanned whole.

Only whole records are covered: a record still being written, or cut off by a killed writer, stays after
`covered` and is read (and warned about) by every reader until it is whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from analyzer import framing
from analyzer.decode import damage_message
from analyzer.progress import SILENT, Progress
from analyzer.store.index import FileIndex, load_index, save_index

__all__ = ["Regions", "file_index", "regions_to_read", "unindexed_regions"]

# (offset, end, number of the first line) of each byte range to read, in file order.
Regions = list[tuple[int, int, int]]


def file_index(path: Path, where: str = "", progress: Progress | None = None) -> tuple[FileIndex, int]:
    """The index of one store file, brought up to date and saved when it grew, and the file's size then
    (OSError if the file cannot be read); `progress` is told the bytes scanned."""
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        index = load_index(path, f, stat) or FileIndex(stat.st_dev, stat.st_ino)
        if stat.st_size > index.covered:
            before = index.covered
            f.seek(index.covered)
            scan = _scan_framed if path.suffix == framing.PROTO_SUFFIX else _scan_lines
            scan(f, index, stat.st_size, where, progress or SILENT)
            if index.covered > before:
                index.seal(f)
                save_index(path, index)
        return index, stat.st_size


def regions_to_read(index: FileIndex, size: int, traces: set[str]) -> Regions:
    """What to read of a file of `size` bytes for an execution whose traces are `traces` (gathered from every
    file's index: `FileIndex.traces_of`): their records, the records the index could not read, and the part
    after `covered`."""
    return _with_tail(index.regions(traces), index, size)


def unindexed_regions(index: FileIndex, size: int) -> Regions:
    """What the index of a file of `size` bytes says nothing about: the records it could not read, and the
    part after `covered`."""
    return _with_tail(index.unread_regions(), index, size)


def _with_tail(regions: Regions, index: FileIndex, size: int) -> Regions:
    if size > index.covered:
        regions.append((index.covered, size, index.lines + 1))
    return regions


def _scan_framed(f: BinaryIO, index: FileIndex, size: int, where: str, progress: Progress) -> None:
    from analyzer.decode.keys import proto_keys  # records to index: a store indexed already needs none of it

    base = index.covered
    data = memoryview(f.read(size - base))
    for item in framing.walk(data):
        if isinstance(item, framing.Damage):
            if item.resume >= len(data):  # runs to the end: maybe a record being written, left uncovered
                return
            index.warnings.append(damage_message(item, base, size, where))
            index.covered = base + item.resume
        else:
            pos, start, end = item
            index.add_record(base + pos, base + end, 0, proto_keys(data[start:end]))
            progress.update(base + end - index.covered)
            index.covered = base + end


def _scan_lines(f: BinaryIO, index: FileIndex, size: int, where: str, progress: Progress) -> None:
    from analyzer.decode.keys import json_keys  # lines to index: a store indexed already needs none of it

    for lineno, offset, line, complete in framing.read_lines(f, index.lines + 1, index.covered):
        if not complete:  # being written, or cut off: left uncovered
            return
        # zero bytes before a line are damage the decoder words: such a line is read by every reader
        end = offset + len(line) + 1
        index.add_record(offset, end, lineno, None if line[:1] == b"\0" else json_keys(line))
        progress.update(end - index.covered)
        index.covered, index.lines = end, lineno
