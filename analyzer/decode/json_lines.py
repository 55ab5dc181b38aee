"""JSON payloads: one document of a format told apart once parsed (OTLP/JSON and Tempo's variants, Jaeger's
two), or JSON lines, a record a line (a store file, the Collector's file exporter).

Imported only where the input is JSON (`analyzer.decode` recognises it): reading a protobuf store needs
neither these decoders nor their parsers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate, count
from typing import Any, BinaryIO

import orjson

from analyzer.decode import jaeger_domain, jaeger_v1, otlp_json
from analyzer.decode._columns import SPAN_ERRORS, Columns
from analyzer.errors import DecodeError

__all__ = ["decode_json", "decode_json_lines", "decode_json_regions", "decode_lines"]

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
_MAX_DEPTH = 1_024  # orjson's nesting limit; deeper JSON is refused with its position (_too_deep_at)
_QUOTE, _BACKSLASH, _OPEN, _CLOSE = ord('"'), ord("\\"), b"[{", b"]}"
# Bytes of JSON lines read (and their spans converted together) at a time: 2-4 thousand spans share the cost
# of a conversion (8 MB was no faster, measured) while the parsed lines held until then stay small (peak
# memory 0.82x the file's size for the batched lines of bench_decode, 1.46x with 8 MB).
_LINES_READ = 1 << 21
_AHEAD = 4_096  # bytes read at a time looking past a first document


def decode_json(f: BinaryIO, cols: Columns, where: str) -> str:
    """Append the spans of the JSON document, or JSON lines, that `f` holds; returns the format's name."""
    if _is_json(f.readline()) and _more(f):
        f.seek(0)
        return decode_json_lines(f, cols, where)  # a whole document on line 1 and more after it
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
    while chunk := f.read(_AHEAD):
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


def decode_json_lines(f: BinaryIO, cols: Columns, where: str) -> str:
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


def decode_json_regions(f: BinaryIO, regions: list[tuple[int, int, int]], cols: Columns, where: str) -> None:
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
            read = sum(map(len, lines))
            offset += read
            size += read
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
