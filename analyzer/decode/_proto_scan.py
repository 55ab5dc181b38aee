"""A compiled reader of many serialized OTLP ``TracesData`` records: each span's fields as table columns.

Building a Python wrapper per span and reading its fields one by one costs many times the upb parse
(measured: ~15x). Here one loop, compiled from Cython (`_wire.pyx`) at install, walks TracesData -> ResourceSpans -> ScopeSpans -> Span
in the input buffer and writes, per span, its numbers, its ids as hex text, and codes for its name, status
and run of serialized attributes (equal bytes, equal code; numbered in order of first appearance); per
ScopeSpans, where its resource, scope and schema URLs lie. The caller decodes the few *distinct* strings
and messages (a code's first occurrence is kept), once each.

Everything about a span is done while its bytes are in the CPU caches: the walk's reads depend on each
other (where a span starts is read from the one before), so a cold buffer costs a memory round trip per
span (measured: 4x slower); the walk asks for the bytes some way ahead of itself (prefetch).

A record holding anything this reader does not take as upb would (a singular field written twice, which
upb merges; attributes not written together; ids of an odd length; a timestamp beyond int64; a group; any
damage) is marked not ``ok`` and its rows are left unfilled; the caller decodes that record with upb, which
has the messages and warnings for such input. Every read is checked against its message's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.decode import _wire

# Columns of the span table (one row per span); the compiled walk (_wire.pyx) numbers them alike
HAS_PARENT, NAME, STATUS, ATTRIBUTES, KIND, START, END = range(7)
_SPAN_COLUMNS = 7
# The columns holding codes of byte strings (an absent string is b""), and what `Scan.firsts` gives for each
TEXT_COLUMNS = (NAME, STATUS, ATTRIBUTES)
# Columns of the scope table (one row per ScopeSpans, and one for each ResourceSpans without any, whose
# SS_INDEX is -1): its record, its place in the record (ResourceSpans index, ScopeSpans index within it),
# its first span row, and (offset, length) of the resource, scope and the two schema URLs (-1, 0 where
# absent).
(RECORD, RS_INDEX, SS_INDEX, FIRST_SPAN, RESOURCE, RESOURCE_LEN, SCOPE, SCOPE_LEN, RS_SCHEMA, RS_SCHEMA_LEN,
 SS_SCHEMA, SS_SCHEMA_LEN) = range(12)  # fmt: skip
_SCOPE_COLUMNS = 12
TRACE_HEX, SPAN_HEX = 32, 16  # hex digits of a trace id, of a span (or parent span) id
_FIRST_CAPACITY = 1 << 12  # slots of each table of distinct strings at first (grown as needed)


@dataclass
class Scan:
    """What `scan` read: per record whether it was read (``ok``) and its first span and scope rows."""

    ok: np.ndarray  # bool per record
    first_span: np.ndarray  # per record, and one past the last: its first row in `spans`
    first_scope: np.ndarray  # per record, and one past the last: its first row in `scopes`
    spans: np.ndarray  # (_SPAN_COLUMNS, n spans) int64
    scopes: np.ndarray  # (_SCOPE_COLUMNS, n scopes) int64
    trace_hex: np.ndarray  # (n spans, TRACE_HEX) uint8: each span's trace id in lowercase hex
    span_hex: np.ndarray  # (n spans, SPAN_HEX) uint8
    parent_hex: np.ndarray  # (n spans, SPAN_HEX) uint8, where HAS_PARENT
    # (len(TEXT_COLUMNS), 3, capacity) int64: offset, size and hash of each code's first string
    firsts: np.ndarray
    codes: np.ndarray  # per text column: how many codes (the first that many of its `firsts`)

    def distinct(self, buf: np.ndarray, column: int) -> list[bytes]:
        """The distinct strings of a text column (NAME, STATUS, ATTRIBUTES), by code."""
        at, size, _ = self.firsts[TEXT_COLUMNS.index(column)]
        k = int(self.codes[TEXT_COLUMNS.index(column)])
        return [buf[a : a + n].tobytes() for a, n in zip(at[:k].tolist(), size[:k].tolist(), strict=True)]

    def key_values(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The distinct runs of attributes (by code) split into their KeyValues, each coded by its bytes:
        (where each run's KeyValues start in the codes, and one past the last; the KeyValues' codes; per
        code, the offset and size of its first KeyValue in `buf`)."""
        column = TEXT_COLUMNS.index(ATTRIBUTES)
        k = int(self.codes[column])
        return _wire.key_values(buf, self.firsts[column, 0, :k], self.firsts[column, 1, :k])


def scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Scan:
    """Read the records at buf[starts[i]:ends[i]] (a uint8 buffer; int64 bounds)."""
    n = len(starts)
    if n and (starts.min() < 0 or ends.max() > len(buf) or (ends < starts).any()):
        raise ValueError("record bounds outside the buffer")  # a caller's bug: the walk trusts them
    ok = np.ones(n, dtype=np.bool_)
    spans_per, scopes_per = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    # first walk: count (the spans are skipped by their lengths); second: fill the tables
    tables = _Tables(0, np.zeros(0, dtype=np.int64))
    tables.walk(buf, starts, ends, 0, False, ok, spans_per, scopes_per)
    first_span = np.concatenate(([0], np.cumsum(spans_per)))
    first_scope = np.concatenate(([0], np.cumsum(scopes_per)))
    tables = _Tables(int(first_scope[-1]), first_span)
    record = 0
    while record < n:
        record = tables.walk(buf, starts, ends, record, True, ok, first_span, first_scope)
        if record < n:  # a text table would fill up with this record's strings
            tables.grow(int(first_span[record + 1] - first_span[record]))
    return Scan(ok, first_span, first_scope, tables.spans, tables.scopes, tables.trace_hex, tables.span_hex,
                tables.parent_hex, tables.firsts, tables.codes)  # fmt: skip


def first_seen(codes: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The codes not `known` yet (a bool per code; updated) in order of first appearance in `codes`, and
    where each first appears."""
    new, at = _wire.first_seen(codes, known.view(np.uint8))
    return new, at


class _Tables:
    """The arrays the compiled walk fills; `grow` makes room in the tables of distinct strings."""

    def __init__(self, n_scopes: int, first_span: np.ndarray) -> None:
        n = int(first_span[-1]) if len(first_span) else 0
        self.spans = np.zeros((_SPAN_COLUMNS, n), dtype=np.int64)
        self.scopes = np.zeros((_SCOPE_COLUMNS, n_scopes), dtype=np.int64)
        self.trace_hex = np.empty((n, TRACE_HEX), dtype=np.uint8)
        self.span_hex = np.empty((n, SPAN_HEX), dtype=np.uint8)
        self.parent_hex = np.empty((n, SPAN_HEX), dtype=np.uint8)
        self.codes = np.zeros(len(TEXT_COLUMNS), dtype=np.int64)
        self.slots = np.full((len(TEXT_COLUMNS), _FIRST_CAPACITY), -1, dtype=np.int64)
        self.firsts = np.zeros((len(TEXT_COLUMNS), 3, _FIRST_CAPACITY // 2), dtype=np.int64)

    def walk(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, record: int, fill: bool,
             ok: np.ndarray, first_span: np.ndarray, first_scope: np.ndarray) -> int:  # fmt: skip
        return int(
            _wire.walk(buf, starts, ends, record, fill, ok.view(np.uint8), first_span, first_scope, self.spans,
                       self.scopes, self.trace_hex, self.span_hex, self.parent_hex, self.slots, self.firsts,
                       self.codes)
        )  # fmt: skip

    def grow(self, more: int) -> None:
        """Room for `more` new strings in each text table (kept at most half full)."""
        capacity = self.slots.shape[1]
        while int(self.codes.max()) + more > capacity // 2:
            capacity *= 2
        firsts = np.zeros((len(TEXT_COLUMNS), 3, capacity // 2), dtype=np.int64)
        firsts[:, :, : self.firsts.shape[2]] = self.firsts
        self.firsts = firsts
        self.slots = np.full((len(TEXT_COLUMNS), capacity), -1, dtype=np.int64)
        _wire.rehash(self.slots, self.firsts, self.codes)
