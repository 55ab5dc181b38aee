"""A vectorized (numpy) walk of many serialized OTLP ``Span`` messages at once: field offsets, no objects.

Building a Python wrapper per span and reading its fields one by one costs several times the upb parse
itself (measured); here the spans are read where they lie in the input buffer, one *field* at a time
across all spans (a span has ~15 fields, so ~15 numpy passes however many spans there are); `fields`
walks the messages above them the same way. Anything
unusual (a repeated singular field, attributes not written together, ids of an odd length, a varint past
its span, a timestamp beyond int64) makes `walk` return None, and the caller takes the per-span path,
which has the messages and the warnings for such input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Span field numbers (opentelemetry/proto/trace/v1/trace.proto)
TRACE_ID, SPAN_ID, PARENT_SPAN_ID, NAME, KIND, START, END, ATTRIBUTES, STATUS = 1, 2, 4, 5, 6, 7, 8, 9, 15
_BYTES_FIELDS = (TRACE_ID, SPAN_ID, PARENT_SPAN_ID, NAME, STATUS)  # singular, length-delimited
_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5  # wire types
LEN = _LEN
_MAX_VARINT_BYTES = 10
# field number -> slot of the walk's tables; every other field shares the last slot
_FIELDS = (TRACE_ID, SPAN_ID, PARENT_SPAN_ID, NAME, STATUS, KIND, START, END, ATTRIBUTES)
_WIRES = (_LEN, _LEN, _LEN, _LEN, _LEN, _VARINT, _I64, _I64, _LEN)
_OTHER = len(_FIELDS)
_SLOTS = _OTHER + 1
_SLOT_OF_FIELD = np.full(max(_FIELDS) + 2, _OTHER, dtype=np.int64)
_SLOT_OF_FIELD[list(_FIELDS)] = np.arange(len(_FIELDS))
_WIRE_OF_SLOT = np.array([*_WIRES, -1], dtype=np.int64)
_ATTR_SLOT = len(_FIELDS) - 1
# Every Span field in number order: (number, wire type, repeated)
_FIELD_ORDER = (
    (TRACE_ID, _LEN, False), (SPAN_ID, _LEN, False), (3, _LEN, False), (PARENT_SPAN_ID, _LEN, False),
    (NAME, _LEN, False), (KIND, _VARINT, False), (START, _I64, False), (END, _I64, False),
    (ATTRIBUTES, _LEN, True), (10, _VARINT, False), (11, _LEN, True), (12, _VARINT, False), (13, _LEN, True),
    (14, _VARINT, False), (STATUS, _LEN, False), (16, _I32, False),
)  # fmt: skip
_INT64_MAX = np.uint64(np.iinfo(np.int64).max)
PAD = 1024  # bytes after the data: reads of a few bytes past a field's start stay in the buffer
_VIEW_INLINE = 12  # Arrow binary views hold strings up to 12 bytes inline
_VIEW_SLICE_BITS = 30


class Unusual(Exception):
    """Input the vectorized walk does not handle; the per-span path will."""


@dataclass
class SpanFields:
    """Per span: offsets into the joined buffer (-1 where a field is absent) and lengths, plus decoded numbers."""

    offset: dict[int, np.ndarray]  # field number -> where its value starts
    length: dict[int, np.ndarray]  # field number -> its value's length (0 where absent)
    kind: np.ndarray  # int64
    start: np.ndarray  # int64 ns
    end: np.ndarray  # int64 ns
    attributes: tuple[np.ndarray, np.ndarray]  # [start, end) of the run of attribute fields (tags included)


def walk(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> SpanFields | None:
    """The fields of the spans at buf[starts[i]:ends[i]], or None if any span is unusual (see module doc)."""
    try:
        return _walk(buf, starts, ends)
    except (Unusual, IndexError):  # IndexError: a varint or value running past the buffer
        return None


def gather(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """The `width` bytes at each offset, as an (n, width) uint8 array (offset + width <= len(buf))."""
    # every window of the buffer as one opaque item: indexing copies whole rows (twice as fast as 2-d)
    windows = np.ndarray((len(buf) - width + 1,), dtype=f"V{width}", buffer=buf, strides=(1,))
    return windows[offsets].view(np.uint8).reshape(len(offsets), width)


def distinct(buf: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """Codes of the byte strings buf[start:start+size] and the distinct strings, in order of first
    appearance, without a Python bytes per string: the strings become an Arrow binary-view array over
    `buf` itself (16 bytes a view) and Arrow's dictionary encoding hashes and compares them whole
    (4x the numpy hashing it replaced, measured). `buf` must have PAD bytes after its data."""
    n = len(starts)
    if (sizes >= 1 << _VIEW_SLICE_BITS).any():
        raise Unusual("a string of 1 GiB or more")
    starts = np.maximum(starts, 0)
    views = np.empty((n, 4), dtype="<i4")  # length; then 12 bytes inline, or prefix, buffer, offset
    views[:, 0] = sizes
    head = gather(buf, starts, 16)[:, :12].copy()
    short = sizes <= _VIEW_INLINE
    head[short] *= np.arange(_VIEW_INLINE) < sizes[short, None]  # inline strings are zero-padded
    views[:, 1:] = head.view("<i4")
    long = np.flatnonzero(~short)
    # Offsets are int32: the buffer is given as overlapping slices of 2 GiB every 1 GiB, so that each string
    # (shorter than 1 GiB) lies whole in the slice where it starts
    views[long, 2] = starts[long] >> _VIEW_SLICE_BITS
    views[long, 3] = starts[long] & ((1 << _VIEW_SLICE_BITS) - 1)
    whole = memoryview(buf)
    slices = [
        pa.py_buffer(whole[k << _VIEW_SLICE_BITS : (k + 2) << _VIEW_SLICE_BITS])
        for k in range((len(buf) >> _VIEW_SLICE_BITS) + 1)
    ]
    encoded = pc.dictionary_encode(
        pa.Array.from_buffers(pa.binary_view(), n, [None, pa.py_buffer(views), *slices])
    )
    return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary.to_pylist()


class _Tables:
    """One row per slot (a field we read, or "other"), one column per span: a pass fills one cell per span
    with a single fancy assignment, whatever field each span has at that point."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.at = np.full((_SLOTS, n), -1, dtype=np.int64)  # where the value starts (-1: not seen)
        self.value = np.zeros((_SLOTS, n), dtype=np.int64)  # its length (LEN) or value (VARINT)
        self.attr_start, self.attr_end, self.attr_bytes = (np.zeros(n, dtype=np.int64) for _ in range(3))

    def record(self, rows: np.ndarray, slot: np.ndarray | int, tag_at: np.ndarray, body: np.ndarray,
               value: np.ndarray | None, nxt: np.ndarray) -> None:  # fmt: skip
        """One field of each of `rows`: its tag at `tag_at`, its value at `body`, the next field at `nxt`."""
        if isinstance(slot, np.ndarray):
            is_attr = slot == _ATTR_SLOT
            if (self.at.ravel()[(slot * self.n + rows)[slot < _ATTR_SLOT]] >= 0).any():
                raise Unusual("a singular field written twice")
            if is_attr.any():
                self._attributes(rows[is_attr], tag_at[is_attr], nxt[is_attr])
        elif slot == _ATTR_SLOT:
            self._attributes(rows, tag_at, nxt)
            return
        cell = slot * self.n + rows  # flat index: 2-d fancy indexing would compute it twice
        self.at.ravel()[cell] = body
        if value is not None:
            self.value.ravel()[cell] = value

    def _attributes(self, rows: np.ndarray, tag_at: np.ndarray, nxt: np.ndarray) -> None:
        first = self.attr_end[rows] == 0
        self.attr_start[rows[first]] = tag_at[first]
        self.attr_end[rows] = nxt
        self.attr_bytes[rows] += nxt - tag_at


def _walk(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> SpanFields:
    tables = _Tables(len(starts))
    pos = starts.astype(np.int64, copy=True)
    _walk_in_order(buf, pos, ends, tables)
    _walk_any_order(buf, pos, ends, tables)
    if (tables.attr_end - tables.attr_start != tables.attr_bytes).any():
        raise Unusual("attributes not written one after another")
    times = {}
    for f in (START, END):
        at = tables.at[_SLOT_OF_FIELD[f]]
        raw = gather(buf, np.maximum(at, 0), 8).view("<u8").ravel() * (at >= 0)
        if (raw > _INT64_MAX).any():
            raise Unusual("a timestamp beyond int64 (the per-span path clamps and warns)")
        times[f] = raw.astype(np.int64)
    kind = tables.value[_SLOT_OF_FIELD[KIND]].astype(np.int32).astype(np.int64)  # int32 enum, as upb reads it
    return SpanFields(
        {f: tables.at[_SLOT_OF_FIELD[f]] for f in _BYTES_FIELDS},
        {f: tables.value[_SLOT_OF_FIELD[f]] for f in _BYTES_FIELDS},
        kind,
        times[START],
        times[END],
        (tables.attr_start, tables.attr_end),
    )


def _walk_in_order(buf: np.ndarray, pos: np.ndarray, ends: np.ndarray, tables: _Tables) -> None:
    """Take the fields in field-number order (how every serializer we know writes them): one step per
    field, each only comparing one byte per span to the expected tag. Spans stop where they differ."""
    # the byte each span is at (0 once it ended: a tag byte is never 0), re-read only where spans moved
    head = np.where(pos < ends, buf[pos], 0)
    for field, wire, repeated in _FIELD_ORDER:
        tag = field << 3 | wire
        first_byte = tag & 0x7F | (0x80 if tag > 0x7F else 0)
        while True:
            rows = np.flatnonzero(head == first_byte)
            if tag > 0x7F:  # a two-byte tag (field 16, flags)
                rows = rows[buf[pos[rows] + 1] == tag >> 7]
            if not rows.size:
                break
            tag_at = pos[rows]
            p = tag_at + (2 if tag > 0x7F else 1)
            value: np.ndarray | None = None
            if wire in (_LEN, _VARINT):
                value, body = _varints(buf, p)
                nxt = body + value if wire == _LEN else body
                if wire == _LEN and (value < 0).any():
                    raise Unusual("a negative length")
            else:
                body, nxt = p, p + (8 if wire == _I64 else 4)
            span_ends = ends[rows]
            if (nxt > span_ends).any():
                raise Unusual("a field past its span")
            slot = int(_SLOT_OF_FIELD[min(field, len(_SLOT_OF_FIELD) - 1)])
            if slot != _OTHER:
                tables.record(rows, slot, tag_at, body, value, nxt)
            pos[rows] = nxt
            head[rows] = np.where(nxt < span_ends, buf[nxt], 0)
            if not repeated:
                break


def _walk_any_order(buf: np.ndarray, pos: np.ndarray, ends: np.ndarray, tables: _Tables) -> None:
    """The rest of each span, one field per pass whatever its number."""
    rows = np.flatnonzero(pos < ends)
    while rows.size:
        tag_at = pos[rows]
        field, wire, value, body, nxt = _next_field(buf, tag_at, ends[rows])
        slot = _SLOT_OF_FIELD[np.clip(field, 0, len(_SLOT_OF_FIELD) - 1)]
        if ((_WIRE_OF_SLOT[slot] != wire) & (slot != _OTHER)).any():
            raise Unusual("a known field of another wire type")
        keep = slot != _OTHER
        tables.record(rows[keep], slot[keep], tag_at[keep], body[keep], value[keep], nxt[keep])
        pos[rows] = nxt
        rows = rows[nxt < ends[rows]]


@dataclass
class Fields:
    """Fields of many messages, in order within each message: which message, field number, wire type, and
    where its value starts and ends (a LEN field's body; a number's bytes)."""

    message: np.ndarray
    number: np.ndarray
    wire: np.ndarray
    body: np.ndarray
    end: np.ndarray

    def of(self, number: int, wire: int) -> Fields:
        """The fields with this number; Unusual if one has another wire type."""
        pick = self.number == number
        if (self.wire[pick] != wire).any():
            raise Unusual(f"field {number} of wire type {self.wire[pick][0]}")
        return Fields(*(a[pick] for a in (self.message, self.number, self.wire, self.body, self.end)))


def fields(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Fields:
    """Every field of the messages at buf[starts[i]:ends[i]], all messages walked together (one field of
    each per pass: a few messages with many fields each take many passes, so give it many messages)."""
    found = []
    pos = starts.astype(np.int64, copy=True)
    rows = np.flatnonzero(pos < ends)
    while rows.size:
        at, limit = pos[rows], ends[rows]
        step = _next_short_len_field(buf, at, limit)
        field, wire, _, body, nxt = step if step is not None else _next_field(buf, at, limit)
        found.append((rows, field, wire, body, nxt))
        pos[rows] = nxt
        rows = rows[nxt < limit]
    if not found:
        return Fields(*(np.zeros(0, dtype=np.int64) for _ in range(5)))
    # Pass k holds the k-th field of every message still going: a message's fields go to the slots after
    # those of the messages before it, its k-th field to its k-th slot (a counting sort: no argsort)
    message = np.concatenate([rows for rows, *_ in found])
    count = np.bincount(message, minlength=len(starts))
    first = np.cumsum(count) - count
    slot = first[message] + np.repeat(np.arange(len(found)), [len(rows) for rows, *_ in found])
    out = []
    for column in (message, *(np.concatenate(c) for c in list(zip(*found, strict=True))[1:])):
        ordered = np.empty_like(column)
        ordered[slot] = column
        out.append(ordered)
    return Fields(*out)


def first_field(buf: np.ndarray, start: int, end: int, number: int) -> int:
    """Where the first field `number` of the message at buf[start:end] starts (its tag); `end` if none."""
    at, limit = np.array([start]), np.array([end])
    while at[0] < end:
        field, _, _, _, nxt = _next_field(buf, at, limit)
        if field[0] == number:
            return int(at[0])
        at = nxt
    return end


def consecutive_len_fields(
    buf: np.ndarray, at: int, number: int, lengths: np.ndarray, end: int
) -> tuple[np.ndarray, np.ndarray]:
    """(bodies' starts, ends) of LEN fields `number` of these lengths written one after another from `at`
    (how a repeated field is written); Unusual unless the bytes say exactly that."""
    size = np.ones(len(lengths), dtype=np.int64)  # bytes of each length's varint
    for k in range(1, _MAX_VARINT_BYTES):
        size += lengths >= 1 << (7 * k)
    tag = np.zeros(len(lengths), dtype=np.int64)
    tag[1:] = np.cumsum(1 + size + lengths)[:-1]
    tag += at
    value, body = _varints(buf, tag + 1) if len(tag) else (lengths, tag)
    if len(tag) and (
        (buf[tag] != (number << 3 | _LEN)).any() or (value != lengths).any() or body[-1] + lengths[-1] > end
    ):
        raise Unusual("fields not written one after another")
    return body, body + lengths


def _next_short_len_field(
    buf: np.ndarray, at: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """`_next_field` when every field at `at` is LEN with a one-byte tag and a length under 16384 (a list
    of spans: one pass per span, so this pass is kept to a few numpy calls); None otherwise."""
    tag, b1, b2 = buf[at], buf[at + 1].astype(np.int64), buf[at + 2].astype(np.int64)
    long = b1 >= 0x80
    if ((tag & 7) != _LEN).any() or (tag >= 0x80).any() or (long & (b2 >= 0x80)).any() or (tag < 8).any():
        return None
    length = np.where(long, (b1 & 0x7F) | (b2 << 7), b1)
    body = at + 2 + long
    nxt = body + length
    if (nxt > ends).any():
        raise Unusual("a field past its message")
    return (tag >> 3).astype(np.int64), np.full(len(at), _LEN, dtype=np.int64), length, body, nxt


def _next_field(
    buf: np.ndarray, at: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The field whose tag is at each offset: (number, wire type, value (VARINT) or length (LEN), where
    its value starts, where the next field starts); Unusual if invalid or running past `ends`."""
    tag, p = _varints(buf, at)
    field, wire = tag >> 3, tag & 7
    value, body = np.zeros_like(p), p.copy()
    has_varint = np.flatnonzero((wire & 5) == 0)  # VARINT and LEN
    value[has_varint], body[has_varint] = _varints(buf, p[has_varint])
    nxt = np.where(
        wire == _LEN, body + value, np.where(wire == _VARINT, body, p + np.where(wire == _I64, 8, 4))
    )
    if (
        (field <= 0).any()
        or ((wire == 3) | (wire == 4) | (wire > 5) | ((wire == _LEN) & (value < 0))).any()
        or (nxt > ends).any()
    ):
        raise Unusual("an invalid wire type or a field past its message")
    return field, wire, value, body, nxt


def _varints(buf: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The base-128 varints starting at each offset: (values as int64, two's complement like the wire's
    uint64, offsets just past them)."""
    byte = buf[at].astype(np.int64)
    value = byte & 0x7F
    nxt = at + 1
    more = np.flatnonzero(byte >= 0x80)
    shift = 7
    while more.size:
        if shift >= 7 * _MAX_VARINT_BYTES:
            raise Unusual("varint longer than 10 bytes")
        byte = buf[nxt[more]].astype(np.int64)
        value[more] |= (byte & 0x7F) << shift
        nxt[more] += 1
        more = more[byte >= 0x80]
        shift += 7
    return value, nxt
