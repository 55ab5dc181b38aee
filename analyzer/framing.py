"""Record framing of the local store's files (docs/store.md): shared by the store's writer and the decoders.

``*.binpb``: each record is a 4-byte big-endian length, then that many bytes of a serialized ``TracesData``
(the OpenTelemetry Collector ``file`` exporter's ``format: proto``, exporter/fileexporter/file_writer.go
``exportMessageAsBuffer``). ``*.jsonl``: one OTLP/JSON ``TracesData`` object per line (``format: json``).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO

__all__ = [
    "JSON_LINES_SUFFIX",
    "LENGTH_SIZE",
    "PROTO_SUFFIX",
    "SUFFIXES",
    "Truncated",
    "frame",
    "iter_lines",
    "iter_records",
    "read_lines",
    "records",
]

# The store's two kinds of file: length-prefixed protobuf records, OTLP/JSON lines.
PROTO_SUFFIX = ".binpb"
JSON_LINES_SUFFIX = ".jsonl"
SUFFIXES = (PROTO_SUFFIX, JSON_LINES_SUFFIX)

_LENGTH = struct.Struct(">I")
# Bytes of a record's length prefix.
LENGTH_SIZE = _LENGTH.size


def frame(payload: bytes) -> bytes:
    """One ``*.binpb`` record: the big-endian uint32 length, then the payload."""
    return _LENGTH.pack(len(payload)) + payload


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


def iter_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(byte offset, payload) of each record of bytes in memory."""
    return ((offset, data[start:end]) for offset, start, end in records(data))


def read_lines(f: BinaryIO) -> Iterator[tuple[int, int, bytes, bool]]:
    """Yield (1-based line number, byte offset, line without its newline, whether a newline ended it) for
    each non-blank line of an open file (a line without its newline is the last one, maybe cut off)."""
    offset = 0
    for lineno, raw in enumerate(f, 1):
        complete = raw.endswith(b"\n")
        line = raw[:-1] if complete else raw
        if line.strip():
            yield lineno, offset, line, complete
        offset += len(raw)


def iter_lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of each non-blank line of bytes in memory."""
    return ((lineno, offset, line) for lineno, offset, line, _ in read_lines(io.BytesIO(data)))
