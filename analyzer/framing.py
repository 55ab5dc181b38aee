"""Record framing of the local store's files (docs/store.md): shared by the store's writer and the decoders.

The suffixes and the frame are flyte_otel's (flyte_otel/framing.py), whose file exporter writes the same files;
this module adds what reading them takes: walking records, past damage.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from flyte_otel.framing import JSON_LINES_SUFFIX, PROTO_SUFFIX, SUFFIXES, frame
from flyte_otel.framing import LENGTH as _LENGTH

__all__ = [
    "JSON_LINES_SUFFIX",
    "LENGTH_SIZE",
    "PROTO_SUFFIX",
    "SUFFIXES",
    "Damage",
    "Truncated",
    "frame",
    "iter_lines",
    "iter_records",
    "read_lines",
    "records",
    "walk",
]

# Bytes of a record's length prefix.
LENGTH_SIZE = _LENGTH.size


class Truncated(Exception):
    """The data ends inside a record; `offset` is where that record starts."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


def records(data: bytes | bytearray | memoryview) -> Iterator[tuple[int, int, int]]:
    """Yield (byte offset of the record, start, end of its payload) for each length-prefixed record in
    `data`; raises Truncated where the data ends inside a record."""
    size = len(data)
    pos = 0
    while pos < size:
        if size - pos < LENGTH_SIZE:
            raise Truncated(pos, f"{size - pos} byte(s) where a 4-byte record length was expected")
        (length,) = _LENGTH.unpack_from(data, pos)
        body = pos + LENGTH_SIZE
        if size - body < length:
            raise Truncated(pos, f"record of {length} bytes has only {size - body} byte(s)")
        yield pos, body, body + length
        pos = body + length


@dataclass(frozen=True)
class Damage:
    """Bytes [offset, resume) of a framed file that hold no readable record: `why` says what was found there,
    `cut` whether it was a record running past the end of the data (a writer killed mid-record)."""

    offset: int
    resume: int
    why: str
    cut: bool


_RESOURCE_SPANS_TAG = 0x0A  # TracesData's only field, resource_spans (1, length-delimited)
_TAG = re.compile(b"\x0a")


def walk(data: bytes | bytearray | memoryview) -> Iterator[tuple[int, int, int] | Damage]:
    """Like `records`, but past damage: yields (offset, start, end) for each plausible record and a Damage for
    each stretch that holds none, resynchronising on the next plausible record (a length that fits, a payload
    that is a run of resource_spans fields, and after it the end or another such record).

    A partial record left mid-file by a failed write, a zero-filled stretch left by a crash, and a cut-off
    end all become one Damage each, so one bad stretch never hides the records after it; empty records (no
    spans) are passed over without a tuple each, so a zero-filled file costs no memory per byte.
    """
    size = len(data)
    pos, end = 0, _record_end(data, 0, size)
    while pos < size:
        # the next record's end, found once: it decides whether this one fits, and is the next step's `end`
        following = _record_end(data, end, size) if end is not None else None
        if end is not None and (following is not None or _fits_before_next(data, pos, end, size)):
            yield pos, pos + LENGTH_SIZE, end
            pos, end = end, following
            continue
        if end is None and _empty_record(data, pos, size):
            pos += LENGTH_SIZE
        else:
            resume = _resync(data, pos + 1, size)
            yield Damage(pos, resume, *_why(data, pos, size))
            pos = resume
        end = _record_end(data, pos, size)


def _fits_before_next(data: bytes | bytearray | memoryview, pos: int, end: int, size: int) -> bool:
    """Whether the plausible record [pos, end) is followed by the end or a record, or else no chained record
    starts inside it (one does when a partial record's length prefix swallowed the records after it)."""
    return _chained(data, end, size) or _next_record(data, pos + 1, end, size, chained=True) is None


def _chained(data: bytes | bytearray | memoryview, end: int, size: int) -> bool:
    return end == size or _record_end(data, end, size) is not None or _empty_record(data, end, size)


def _record_end(data: bytes | bytearray | memoryview, pos: int, size: int) -> int | None:
    """Where the non-empty record at `pos` ends, if it is plausible; else None."""
    if size - pos <= LENGTH_SIZE:
        return None
    (length,) = _LENGTH.unpack_from(data, pos)
    start, end = pos + LENGTH_SIZE, pos + LENGTH_SIZE + length
    if not length or end > size:
        return None
    while start < end:  # the payload's top-level fields: resource_spans, each fitting inside it
        if data[start] != _RESOURCE_SPANS_TAG:
            return None
        start, field = _varint(data, start + 1, end)
        start += field
    return end if start == end else None


def _varint(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """(position after, value) of the varint at `pos`; a value past `end` where it does not end in time."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return pos, value
        shift += 7
    return end, end


def _empty_record(data: bytes | bytearray | memoryview, pos: int, size: int) -> bool:
    """A zero length (an empty TracesData) followed by the end or a plausible record."""
    if size - pos < LENGTH_SIZE or _LENGTH.unpack_from(data, pos)[0]:
        return False
    after = pos + LENGTH_SIZE
    return after == size or _record_end(data, after, size) is not None


def _resync(data: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """The first offset from `pos` on where a record starts that fits before the next (`_fits_before_next`);
    the end if there is none."""
    while (start := _next_record(data, pos, size, size, chained=False)) is not None:
        end = _record_end(data, start, size)
        if end is not None and _fits_before_next(data, start, end, size):
            return start
        pos = start + 1
    return size


def _next_record(
    data: bytes | bytearray | memoryview, pos: int, limit: int, size: int, *, chained: bool
) -> int | None:
    """The first offset in [pos, limit) where a plausible record starts (and, if `chained`, is followed by
    the end or another record). Candidates are found by their first payload byte, the resource_spans tag."""
    while (hit := _TAG.search(data, pos + LENGTH_SIZE)) is not None and hit.start() - LENGTH_SIZE < limit:
        candidate = hit.start() - LENGTH_SIZE
        end = _record_end(data, candidate, size)
        if end is not None and (not chained or _chained(data, end, size)):
            return candidate
        pos = candidate + 1
    return None


def _why(data: bytes | bytearray | memoryview, pos: int, size: int) -> tuple[str, bool]:
    if size - pos < LENGTH_SIZE:
        return f"{size - pos} byte(s) where a 4-byte record length was expected", True
    (length,) = _LENGTH.unpack_from(data, pos)
    if length > size - pos - LENGTH_SIZE:
        return f"record of {length} bytes has only {size - pos - LENGTH_SIZE} byte(s)", True
    if not length:
        return "zero bytes where a record was expected", False
    if _record_end(data, pos, size) is not None:
        return f"a {length}-byte record that runs into the next one (a partial write?)", False
    return f"a {length}-byte record that is not a TracesData", False


def iter_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(byte offset, payload) of each record of bytes in memory."""
    return ((offset, data[start:end]) for offset, start, end in records(data))


def read_lines(
    f: BinaryIO, first_line: int = 1, first_byte: int = 0
) -> Iterator[tuple[int, int, bytes, bool]]:
    """Yield (1-based line number, byte offset, line without its newline, whether a newline ended it) for
    each non-blank line of an open file (a line without its newline is the last one, maybe cut off); `f`
    may start part-way through a file, at line number `first_line` and byte `first_byte`."""
    offset = first_byte
    for lineno, raw in enumerate(f, first_line):
        complete = raw.endswith(b"\n")
        line = raw[:-1] if complete else raw
        if line and not line.isspace():  # no stripped copy: a zero-filled "line" may be the whole file
            yield lineno, offset, line, complete
        offset += len(raw)


def iter_lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of each non-blank line of bytes in memory."""
    return ((lineno, offset, line) for lineno, offset, line, _ in read_lines(io.BytesIO(data)))
