"""Decoders: any single trace payload (file or bytes) -> SpanTable, with its format auto-detected.

One module per payload family (otlp_json, otlp_proto, jaeger_v1, jaeger_domain; json_lines tells the JSON
ones apart and reads JSON lines); this module only recognises the format and reports bad input as
DecodeError naming the input and the position.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from analyzer import framing
from analyzer.decode import otlp_proto
from analyzer.decode._columns import SPAN_ERRORS, Columns, gc_paused
from analyzer.errors import DecodeError
from analyzer.table import SpanTable

__all__ = [
    "FORMATS",
    "decode",
    "decode_into",
    "decode_path",
    "decode_request",
    "damage_message",
    "decode_store_file",
    "detect",
]

# Leading bytes of common non-trace files.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
)
_SNIFF = 64  # bytes read to recognise a format
_RESOURCE_SPANS_TAG = 0x0A  # field 1 (resource_spans), wire type 2: the first byte of a TracesData

# Every format `detect` can name.
FORMATS = ("otlp-json", "otlp-json-lines", "jaeger-v1", "jaeger-domain", "otlp-proto", "otlp-proto-framed")


def detect(data: bytes) -> str:
    """The format of a payload, one of FORMATS; DecodeError if it is none of them (or is damaged)."""
    fmt = _sniff(io.BytesIO(data), "<bytes>")
    # JSON envelopes are told apart only once parsed; parsing is most of decoding, so decode
    return fmt if fmt != "json" else decode_into(data, Columns("<bytes>"))


def decode(data: bytes, source: str = "<bytes>") -> SpanTable:
    """Decode one payload of any supported format into a SpanTable (warnings in `.warnings`)."""
    cols = Columns(source)
    with gc_paused():
        decode_into(data, cols)
        return cols.finish()


def decode_request(data: bytes, expect: str, source: str) -> tuple[int, list[int], list[str]]:
    """Read one payload that must be of format `expect` (DecodeError otherwise) as the store reader reads a
    record, without building a table: (spans, the positions of those it would skip as unreadable, in
    document order, warnings)."""
    cols = Columns(source)
    fmt = decode_into(data, cols)
    if fmt != expect:
        raise DecodeError(f"{source}: {fmt}, not {expect}")
    return cols.verdict()


def decode_path(path: Path) -> SpanTable:
    """Decode one file: JSON lines are read line by line; protobuf is read whole into one buffer that the
    spans are walked in (no copy per record)."""
    cols = Columns(str(path))
    with gc_paused():
        with open(path, "rb") as f:
            _decode_stream(f, cols, "")
        return cols.finish()


def decode_into(data: bytes, cols: Columns, where: str = "") -> str:
    """Append the spans of `data` to `cols` (positions prefixed by `where`); returns the format's name."""
    return _decode_stream(io.BytesIO(data), cols, where, data)


def decode_store_file(
    path: Path, cols: Columns, where: str = "", regions: list[tuple[int, int, int]] | None = None
) -> None:
    """Append the readable records of one store file, read as its suffix says (docs/store.md) rather than
    sniffed, so that a file whose first record is damaged is read from its next one; damage is warned, and a
    file that cannot be read at all is skipped with a warning (OSError if it cannot be opened).

    With `regions`, only those byte ranges are read: (offset, end, number of the first line), each starting at
    a record (an index's answer); positions in warnings are the file's all the same."""
    with open(path, "rb") as f:
        try:
            if path.suffix == framing.PROTO_SUFFIX:
                _decode_framed_regions(f, regions, cols, where)
            else:
                from analyzer.decode import json_lines  # JSON only: a protobuf store does without it

                if regions is None:
                    json_lines.decode_json_lines(f, cols, where)
                else:
                    json_lines.decode_json_regions(f, regions, cols, where)
        except SPAN_ERRORS as e:
            cols.skip_record(e, where, "file")


def _decode_framed_regions(
    f: BinaryIO, regions: list[tuple[int, int, int]] | None, cols: Columns, where: str
) -> None:
    """The regions' bytes are read into one buffer, and their records decoded together."""
    if regions is None:
        _decode_framed(_whole(f, None), cols, where)
        return
    size = os.fstat(f.fileno()).st_size
    buf = np.empty(sum(end - offset for offset, end, _ in regions), dtype=np.uint8)
    records: list[tuple[int, int, str]] = []
    at = 0
    for offset, end, _ in regions:
        f.seek(offset)
        part = buf[at : at + end - offset]
        f.readinto(part.data)  # type: ignore[attr-defined]  # BinaryIO does not declare readinto; files have it
        records += _framed_records(part, cols, where, offset, size, at)
        at += end - offset
    otlp_proto.decode_records(buf, records, cols, skip_damaged=True)


def _decode_stream(f: BinaryIO, cols: Columns, where: str, data: bytes | None = None) -> str:
    """Decode what `f` holds (`data`, if given, is the same bytes: protobuf is read in it, not copied)."""
    fmt = _sniff(f, f"{cols.source}: {where}".rstrip(": "))
    try:
        if fmt == "otlp-proto":
            buf = _whole(f, data)
            otlp_proto.decode_records(buf, [(0, len(buf), where)], cols)
        elif fmt == "otlp-proto-framed":
            _decode_framed(_whole(f, data), cols, where)
        else:
            from analyzer.decode import json_lines  # JSON only: a protobuf payload does without it

            fmt = json_lines.decode_json(f, cols, where)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError, RecursionError) as e:
        # a structurally wrong value inside an otherwise recognised payload; the row being read names it
        raise DecodeError(
            f"{cols.where(cols.rows_done())}: malformed span ({type(e).__name__}: {e})"
        ) from None
    return fmt


def _sniff(f: BinaryIO, source: str) -> str:
    """The format from the first bytes; leaves `f` at its start."""
    head = f.read(_SNIFF)
    while head and not head.strip() and (more := f.read(_SNIFF)):
        head = more  # skip leading whitespace, however long
    f.seek(0)
    text = head.lstrip()
    if not text:
        raise DecodeError(f"{source}: empty input (no data, or only whitespace)")
    for magic, what in _MAGIC:
        if text.startswith(magic):
            raise DecodeError(f"{source}: this is {what}, not a trace")
    if text[:1] in (b"{", b"["):
        return "json"  # refined by _decode_json once parsed
    if head[0] == _RESOURCE_SPANS_TAG:
        return "otlp-proto"
    if len(head) > framing.LENGTH_SIZE and head[0] == 0 and head[framing.LENGTH_SIZE] == _RESOURCE_SPANS_TAG:
        return "otlp-proto-framed"
    try:
        start = text[:20].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(
            f"{source}: not JSON and not an OTLP protobuf (first byte 0x{head[0]:02x})"
        ) from None
    raise DecodeError(f"{source}: text that is not JSON (YAML? CSV?), starting {start!r}; expected a trace")


def _decode_framed(buf: np.ndarray, cols: Columns, where: str) -> None:
    """Every readable record of a framed file: damage (a cut-off end, a partial record mid-file, a zero-filled
    stretch) and records that do not parse are skipped with a warning naming their byte offset."""
    otlp_proto.decode_records(buf, _framed_records(buf, cols, where, 0, len(buf), 0), cols, skip_damaged=True)


def _framed_records(
    part: np.ndarray, cols: Columns, where: str, offset: int, size: int, at: int
) -> list[tuple[int, int, str]]:
    """(start, end, where) of each plausible record in `part` (bytes of a file of `size` bytes from `offset`,
    at `at` in the buffer the records will be read in); damage is warned."""
    records: list[tuple[int, int, str]] = []
    for item in framing.walk(part.data):
        if isinstance(item, framing.Damage):
            cols.warn(damage_message(item, offset, size, where))
        else:
            pos, start, end = item
            records.append((at + start, at + end, f"{where}byte {offset + pos}: "))
    return records


def damage_message(d: framing.Damage, offset: int, size: int, where: str) -> str:
    """The warning for a damaged stretch found in bytes read from `offset` of a file of `size` bytes."""
    begin, resume = offset + d.offset, offset + d.resume
    if d.cut and resume == size:  # the writer was killed mid-record (docs/store.md): all before it is whole
        return f"{where}byte {begin}: last record truncated ({d.why}); skipped"
    resumed = f", reading resumed at byte {resume}" if resume < size else " (to the end)"
    return f"{where}byte {begin}: damaged: {d.why}; {resume - begin} byte(s) skipped{resumed}"


def _whole(f: BinaryIO, data: bytes | None) -> np.ndarray:
    """The whole input as one uint8 buffer (the spans of all records are read in it, no copy per record):
    `data` itself if given, else read from `f`."""
    if data is not None:
        return np.frombuffer(data, dtype=np.uint8)
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    buf = np.empty(size, dtype=np.uint8)
    f.readinto(buf.data)  # type: ignore[attr-defined]  # BinaryIO does not declare readinto; files have it
    return buf
