"""Decoders: any single trace payload (file or bytes) -> SpanTable, with its format auto-detected.

One module per payload family (otlp_json, otlp_proto, jaeger_v1, jaeger_domain); this module only
recognises the format and reports bad input as DecodeError naming the input and the position.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate, count
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from analyzer import framing
from analyzer.decode import jaeger_domain, jaeger_v1, otlp_json, otlp_proto
from analyzer.decode._columns import SPAN_ERRORS, Columns, gc_paused
from analyzer.errors import DecodeError
from analyzer.table import SpanTable

__all__ = [
    "FORMATS",
    "decode",
    "decode_into",
    "decode_lines",
    "decode_path",
    "decode_request",
    "damage_message",
    "decode_store_file",
    "detect",
]

# Parsed-JSON formats, tried in order: (name, "is it this?", "append its spans").
_JSON_FORMATS: tuple[tuple[str, Callable[[Any], bool], Callable[..., None]], ...] = (
    ("otlp-json", otlp_json.matches, otlp_json.decode_doc),
    ("jaeger-v1", jaeger_v1.matches, jaeger_v1.decode_doc),
    ("jaeger-domain", jaeger_domain.matches, jaeger_domain.decode_doc),
)
# Recognisable JSON that holds no spans: say what it is rather than "unknown format".
_JSON_NOT_TRACES: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    (
        "a Tempo search response (trace ids, no spans): fetch each trace",
        lambda d: "traces" in d and "metrics" in d,
    ),
)
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
_MAX_DEPTH = 1_024  # orjson's nesting limit; deeper JSON is refused with its position (_too_deep_at)
_QUOTE, _BACKSLASH, _OPEN, _CLOSE = ord('"'), ord("\\"), b"[{", b"]}"
_RESOURCE_SPANS_TAG = 0x0A  # field 1 (resource_spans), wire type 2: the first byte of a TracesData
# Bytes of JSON lines read (and their spans converted together) at a time: 2-4 thousand spans share the cost
# of a conversion (8 MB was no faster, measured) while the parsed lines held until then stay small (peak
# memory 0.82x the file's size for the batched lines of bench_decode, 1.46x with 8 MB).
_LINES_READ = 1 << 21

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
            elif regions is None:
                _decode_json_lines(f, cols, where)
            else:
                _decode_json_regions(f, regions, cols, where)
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
            fmt = _decode_json(f, cols, where)
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


def _decode_json(f: BinaryIO, cols: Columns, where: str) -> str:
    if _is_json(f.readline()) and _more(f):
        f.seek(0)
        return _decode_json_lines(f, cols, where)  # a whole document on line 1 and more after it
    f.seek(0)
    data = f.read()
    if otlp_json.decode_typed(data, cols, where):
        return "otlp-json"
    try:
        doc = _loads(data, cols, where)
    except json.JSONDecodeError as e:
        raise DecodeError(f"{cols.source}: {where}invalid JSON at {_position(e)}: {e.msg}") from None
    return _decode_json_doc(doc, cols, where)


def _loads(data: bytes, cols: Columns, where: str) -> Any:
    """Parse JSON: orjson (2-3x faster), and for what it refuses (invalid UTF-8, NaN, huge integers, bad
    JSON) the standard library, which repairs UTF-8 (warned), accepts the rest and words the errors."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    cols.lone_surrogates_possible = True
    try:
        return json.loads(_utf8(data, cols, where))
    except RecursionError:  # the standard library recurses once per level, orjson stops at 1,024
        raise DecodeError(
            f"{cols.source}: {where}JSON nested deeper than this parser reads (byte {_too_deep_at(data)})"
        ) from None


def _too_deep_at(data: bytes, limit: int = _MAX_DEPTH) -> int:
    """The offset of the first bracket that opens level `limit` + 1 (outside strings), for the message."""
    depth, in_string, escaped = 0, False, False
    for i, c in enumerate(data):
        if in_string:
            in_string = escaped or c != _QUOTE
            escaped = not escaped and c == _BACKSLASH
        elif c in _OPEN:
            depth += 1
            if depth > limit:
                return i
        elif c in _CLOSE:
            depth -= 1
        else:
            in_string = c == _QUOTE
    return len(data)


def _more(f: BinaryIO) -> bool:
    """Whether anything but whitespace follows in `f` (which it consumes)."""
    while chunk := f.read(_SNIFF):
        if chunk.strip():
            return True
    return False


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            json.loads(line)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; too deep (said later)
            return False
    return True


def _decode_json_doc(doc: Any, cols: Columns, where: str) -> str:
    for name, matches, decode_doc in _JSON_FORMATS:
        if matches(doc):
            decode_doc(doc, cols, where)
            return name
    if isinstance(doc, dict):
        for what, matches in _JSON_NOT_TRACES:
            if matches(doc):
                raise DecodeError(f"{cols.source}: {where}this is {what}")
        keys = ", ".join(sorted(doc)[:8]) or "none"
        raise DecodeError(
            f"{cols.source}: {where}JSON but not a trace format I know (top-level keys: {keys})"
        )
    raise DecodeError(f"{cols.source}: {where}JSON {type(doc).__name__} where a trace object was expected")


def _decode_json_lines(f: BinaryIO, cols: Columns, where: str) -> str:
    """Each line is one record: a line that cannot be read is skipped with a warning naming it, and the
    lines after it are read (zero bytes before a line, a crash's leftovers, are skipped with a warning)."""
    first_line, first_byte = 1, 0
    while lines := f.readlines(_LINES_READ):
        numbers = range(first_line, first_line + len(lines))
        if not _Lines(numbers, partial(_offset, lines, first_byte), lines, cols, where).read():
            break
        first_line += len(lines)
        first_byte = f.tell()
    return "otlp-json-lines"


def _offset(lines: list[bytes], first_byte: int, i: int) -> int:
    """The offset in its file of lines[i], of lines read together from `first_byte` on."""
    return first_byte + sum(map(len, lines[:i]))


def _decode_json_regions(f: BinaryIO, regions: list[tuple[int, int, int]], cols: Columns, where: str) -> None:
    """The lines of the `regions` of a file (offset, end, number of the first line), converted a few megabytes
    at a time whichever regions they lie in: an execution's records may be many regions of one line each."""
    held: list[tuple[int, int, bytes]] = []
    size = 0
    for offset, end, first_line in regions:
        f.seek(offset)
        region = io.BytesIO(f.read(end - offset))
        while lines := region.readlines(_LINES_READ):
            held += zip(count(first_line), accumulate(map(len, lines), initial=offset), lines, strict=False)
            first_line += len(lines)
            offset += sum(map(len, lines))
            size += sum(map(len, lines))
            if size >= _LINES_READ:
                if not decode_lines(held, cols, where):
                    return
                held, size = [], 0
    decode_lines(held, cols, where)


def decode_lines(lines: Sequence[tuple[int, int, bytes]], cols: Columns, where: str = "") -> bool:
    """Append the records of JSON lines of a file, each (its line number, its byte offset, the line as read,
    with its newline if it had one), as `decode_store_file` reads them; False if a line was cut off (no
    newline after it: the last of its file) and could not be read: warned, and the lines after it left.

    A line that cannot be read is skipped with a warning naming it; the spans of the lines read typed
    (`otlp_json.read_typed`) are converted together, and lines that repeat their resource and scope around
    their spans are parsed together too, so that one span a line costs little more than many. The result is
    the same as reading the lines one by one. Pass a few megabytes of lines at a time: their documents are
    held at once."""
    numbers, offsets, payloads = (
        (list(column) for column in zip(*lines, strict=True)) if lines else ([], [], [])
    )
    return _Lines(numbers, offsets.__getitem__, payloads, cols, where).read()


class _Lines:
    """JSON lines of a file, being read into `cols` (`decode_lines`): their numbers, the offset of the i-th
    (asked only for a message), the lines as read."""

    def __init__(
        self,
        numbers: Sequence[int],
        offset: Callable[[int], int],
        payloads: list[bytes],
        cols: Columns,
        where: str,
    ):
        self.numbers, self.offset, self.payloads = numbers, offset, payloads
        self.cols, self.where = cols, where

    def read(self) -> bool:
        """Every line, in order; False where a cut-off line stopped it."""
        done = 0
        while done < len(self.payloads):
            docs = otlp_json.read_typed(self.payloads, done, self.cols)
            if docs:
                if not self.add(docs, done):
                    return False
                done += len(docs)
            else:  # the typed reader cannot read this line
                if not self.one(done, typed=False):
                    return False
                done += 1
        return True

    def add(self, docs: Sequence[Any], first: int) -> bool:
        """The typed documents of the lines from index `first` on, converted together; where that fails (a
        span that must be read span by span), each half on its own, down to single lines read the general
        way: each group gives what its lines give one by one, and most of the lines stay in large groups."""
        if otlp_json.add_lines(docs, self.where, self.numbers[first : first + len(docs)], self.cols):
            return True
        if len(docs) == 1:
            return self.one(first, typed=False)
        half = len(docs) // 2
        return self.add(docs[:half], first) and self.add(docs[half:], first + half)

    def one(self, i: int, typed: bool) -> bool:
        """Line `i` on its own (`typed`: the typed reader is yet to try it); False if it is the cut-off last
        line of its file and could not be read (warned)."""
        lineno, raw = self.numbers[i], self.payloads[i]
        at = f"{self.where}line {lineno}: "
        complete = raw.endswith(b"\n")
        line = raw[:-1] if complete else raw
        text = line.lstrip(b"\0")
        if len(text) < len(line):
            self.cols.warn(f"{at}damaged: {len(line) - len(text)} zero byte(s) skipped")
            typed = True  # the zero bytes kept the typed reader out
        if not text.strip():
            return True  # a blank line, or only zero bytes
        try:
            _decode_json_line(text, self.cols, at, typed)
        except SPAN_ERRORS as e:  # a structurally wrong value raises one of the built-ins
            if complete:
                self.cols.skip_record(e, at, "line")
                return True
            self.cols.abandon(e)  # no newline after it: the writer was cut off mid-line
            self.cols.warn(f"{at}last line truncated (byte {self.offset(i)}); skipped")
            return False
        return True


def _decode_json_line(line: bytes, cols: Columns, at: str, typed: bool = True) -> None:
    if typed and otlp_json.decode_typed(line, cols, at):
        return
    try:
        doc = _loads(line, cols, at)
    except json.JSONDecodeError as e:
        raise DecodeError(f"{at}invalid JSON at {_position(e)}: {e.msg}") from None
    _decode_json_doc(doc, cols, at)


def _utf8(data: bytes, cols: Columns, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        cols.warn(f"{where}invalid UTF-8 at byte {e.start}, replaced with U+FFFD")
        return data.decode("utf-8", "replace")


def _position(e: json.JSONDecodeError) -> str:
    return f"line {e.lineno} column {e.colno} (char {e.pos})"
