"""Column builder shared by every decoder: decoders append raw rows, `finish` validates and builds the table.

Decoders append to the public lists directly (bound ``append`` in locals: it is the hot loop); `flush`
moves what they appended into numpy chunks (numbers) and Arrow chunks (ids), so a million rows never
live as Python lists. A vectorized decoder hands over whole chunks with `add_rows`; its ids come as Arrow
strings made straight from the id bytes (`analyzer.ids`), without a Python string per span. Strings
that repeat (service, span name) are interned to integer codes so the table gets categoricals without
hashing a million strings twice. A span's attributes are an *attribute plan*: (promoted (key, value)
pairs, the other attributes as a dict or None); spans with the same serialized attributes share one plan
(the protobuf decoder caches them), so the promoted columns are built by numpy indexing, and rows with the
same attributes share one (read-only) ``attributes`` dict.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa

from analyzer import arrays, ids
from analyzer import table as t
from analyzer.errors import DecodeError

# What a decoder may raise on one malformed span: the span is skipped (`Columns.unreadable`), not the input.
SPAN_ERRORS = (KeyError, TypeError, AttributeError, ValueError, OverflowError, RecursionError, DecodeError)
KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")  # OTLP SpanKind order
STATUSES = ("unset", "ok", "error")  # OTLP Status.StatusCode order
REF_TYPES = ("child_of", "follows_from")
NO_REF = -1  # ref_type code of a root span
# Resource and status keys read apart from the attributes.
SERVICE_NAME = "service.name"
STATUS_DESCRIPTION = "otel.status_description"  # where Jaeger puts the status message; we use the same key

# A span longer than this is almost surely a clock or unit error (a Flyte execution may run for days).
ABSURD_DURATION_NS = 30 * 24 * 3600 * 10**9

_PROMOTED = frozenset(t.PROMOTED)
_NUMERIC = ("service", "name", "kind", "status", "ref_type", "start", "end", "plan")  # chunked by flush()
_IDS = (
    ("trace_id", "trace id", 32, False),
    ("span_id", "span id", 16, False),
    ("parent_id", "parent span id", 16, True),
)
# Every per-span list and the value that stands in for a span that could not be read (`unreadable`);
# the attribute plan, which decoders append last, is an empty one.
_PLACEHOLDERS = (
    ("trace_id", "0" * 32), ("span_id", "0" * 16), ("parent_id", ""), ("service", 0), ("name", 0),
    ("kind", 0), ("status", 0), ("ref_type", NO_REF), ("start", 0), ("end", 0),
)  # fmt: skip
_NAMED_SKIPS = 5  # skipped spans named one by one in the warnings; the rest are counted
Plan = tuple[tuple[tuple[str, Any], ...], dict[str, Any] | None]
# A block's position: text (a row's is it and the row's index in the block), or what gives a row's whole
# position from that index (a block of many one-span lines: formatting each would cost more than its span).
Where = str | Callable[[int], str]

_ALL_HEX = re.compile(r"[0-9a-f]*")
_PROMOTED_PART, _OTHER_PART = itemgetter(0), itemgetter(1)  # of a Plan


class Columns:
    """Rows of one input, appended by a decoder; `finish()` turns them into a SpanTable."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.trace_id: list[str] = []
        self.span_id: list[str] = []
        self.parent_id: list[str] = []
        # small-int codes: list.append is about twice as fast as array.append in the hot loop
        self.service: list[int] = []  # codes into self.services
        self.name: list[int] = []  # codes into self.names
        self.kind: list[int] = []  # index into KINDS
        self.status: list[int] = []  # index into STATUSES
        self.ref_type: list[int] = []  # index into REF_TYPES, or NO_REF
        self.start: list[int] = []
        self.end: list[int] = []
        self.plan: list[int] = []  # per row: index into self.plans
        self.plans: list[Plan] = []
        self.extra: list[tuple[int, str, Any]] = []  # (row, key, value) added to one row's attributes
        # decoder-private memo tables (ids, attribute plans) that live as long as the rows
        self.caches: dict[str, dict[Any, Any]] = {}
        self._chunks: dict[str, list[np.ndarray]] = {k: [] for k in _NUMERIC}
        self._id_chunks: dict[str, list[pa.Array]] = {k: [] for k, *_ in _IDS}
        self._flushed = 0  # rows moved into the chunks
        self.text_ids = False  # set by text decoders: their ids still need the hex-alphabet check
        # Set where the standard library's JSON parser read the input: of the parsers used (upb, orjson,
        # msgspec, json) only it turns an escaped lone surrogate ("\ud800") into text, so only then are the
        # attribute plans walked for it (~30 µs a plan: most of the decoding time where plans are unique).
        self.lone_surrogates_possible = False
        self.services: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.warnings: list[str] = []
        # (first row, position of that block in the input): maps a row back to where it was read
        self._block_rows: list[int] = []
        self._block_where: list[Where] = []
        self._skipped: dict[int, str] = {}  # row -> why it cannot be read (left out by finish)

    def block(self, where: str, row: int | None = None) -> None:
        """Mark that the rows appended from now on (or from `row` on) were read at `where` (e.g. a JSON path
        or byte offset)."""
        self._block_rows.append(self._flushed + len(self.span_id) if row is None else row)
        self._block_where.append(where)

    def blocks(self, wheres: Iterable[Where], rows: Iterable[int]) -> None:
        """`block(where, row)` for each pair, rows in increasing order (a decoder that marks many at once)."""
        self._block_where.extend(wheres)
        self._block_rows.extend(rows)
        if len(self._block_rows) != len(self._block_where):  # a decoder bug: positions would be misnamed
            raise AssertionError("blocks() with more positions than rows or fewer")

    def where(self, row: int) -> str:
        """The input position of a row, for messages."""
        i = bisect.bisect_right(self._block_rows, row) - 1
        if i < 0:
            return f"{self.source}: span #{row}"
        where, index = self._block_where[i], row - self._block_rows[i]
        return (
            f"{self.source}: {where}[{index}]" if isinstance(where, str) else f"{self.source}: {where(index)}"
        )

    def code(self, mapping: dict[str, int], value: str) -> int:
        """Intern `value` in `mapping` (self.services or self.names)."""
        c = mapping.get(value)
        if c is None:
            c = mapping[value] = len(mapping)
        return c

    def add_plan(self, attributes: Iterable[tuple[str, Any]]) -> int:
        """Register the attribute plan of (key, value) pairs; returns its index for ``self.plan``."""
        promoted: list[tuple[str, Any]] = []
        other: dict[str, Any] | None = None
        for key, value in attributes:
            if key in _PROMOTED:
                promoted.append((key, value))
            else:
                if other is None:
                    other = {}
                other[key] = value
        self.plans.append((tuple(promoted), other))
        return len(self.plans) - 1

    def add_plans(self, items: np.ndarray, first: np.ndarray, pairs: list[Any]) -> np.ndarray:
        """Register many attribute plans at once: plan i is the (key, value) pairs coded
        items[first[i]:first[i + 1]] (codes into `pairs`, e.g. a decoder's distinct KeyValues). Plans alike in
        their promoted attributes, or in the others, share one tuple or dict (made once: a run of spans varies
        in a few values). Returns the plans' indices for ``self.plan``."""
        n = len(first) - 1
        used = np.flatnonzero(np.bincount(items, minlength=len(pairs)))
        is_promoted = np.zeros(len(pairs), dtype=np.bool_)
        is_promoted[used] = [pairs[k][0] in _PROMOTED for k in used.tolist()]
        plan = np.repeat(np.arange(n), np.diff(first))
        # within each plan, its promoted pairs first, each part in its order
        items = items[np.lexsort((~is_promoted[items], plan))]
        middle = first[:-1] + np.bincount(plan, weights=is_promoted[items], minlength=n).astype(np.int64)
        del plan  # the arrays of a pair each are the peak of a store's read: none held longer than needed
        p_group, p_first = _sequence_codes(items, first[:-1], middle)
        o_group, o_first = _sequence_codes(items, middle, first[1:])
        codes = items.tolist()  # a Python int a pair (~36 bytes): made once the sequences' arrays are gone
        p_bounds = zip(first[:-1][p_first].tolist(), middle[p_first].tolist(), strict=True)
        promoted = [tuple(pairs[k] for k in codes[a:b]) for a, b in p_bounds]
        o_bounds = zip(middle[o_first].tolist(), first[1:][o_first].tolist(), strict=True)
        other = [dict(pairs[k] for k in codes[a:b]) or None for a, b in o_bounds]
        base = len(self.plans)
        parts = zip(
            map(promoted.__getitem__, p_group.tolist()), map(other.__getitem__, o_group.tolist()), strict=True
        )
        self.plans.extend(parts)
        return np.arange(base, base + n, dtype=np.int64)

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.source}: {message}")

    def flush(self) -> None:
        """Move the columns appended so far into chunks: numbers into numpy (8 bytes a value instead of a
        Python int and a pointer), ids, once checked, into Arrow strings (decoders call this after each
        record, which bounds the peak memory)."""
        if not self.plan:
            return
        n = len(self.plan)
        if {len(getattr(self, key)) for key in (*_NUMERIC, "trace_id", "span_id", "parent_id")} != {n}:
            raise AssertionError("flush() in the middle of a row")  # a decoder bug: columns would misalign
        self._check_ids(self._flushed)
        for key, *_ in _IDS:
            values = getattr(self, key)
            self._id_chunks[key].append(arrays.strings(values))
            values.clear()  # in place: decoders hold its bound append
        for key in _NUMERIC:
            values = getattr(self, key)
            self._chunks[key].append(self._array(key, values, self._flushed))
            values.clear()
        self._flushed += n

    def add_rows(
        self, trace_id: pa.Array, span_id: pa.Array, parent_id: pa.Array, numeric: dict[str, np.ndarray]
    ) -> None:
        """Append many whole rows at once (a vectorized decoder): the ids as Arrow strings of lowercase hex
        from `analyzer.ids` (checked there, not again), every other column of ``_NUMERIC`` (service, name,
        ..., plan) as an int64 array."""
        self.flush()
        n = len(span_id)
        lengths = {len(trace_id), len(parent_id), *map(len, numeric.values())}
        if lengths != {n} or set(numeric) != set(_NUMERIC):
            raise AssertionError("add_rows() with columns of different lengths")  # a decoder bug
        for key, chunk in (("trace_id", trace_id), ("span_id", span_id), ("parent_id", parent_id)):
            self._id_chunks[key].append(chunk)
        for key in _NUMERIC:
            self._chunks[key].append(numeric[key].astype(np.int64, copy=False))
        self._flushed += n

    def rows_done(self) -> int:
        """Rows appended completely (the attribute plan is a row's last column)."""
        return self._flushed + len(self.plan)

    def _column(self, key: str) -> np.ndarray:
        chunks = self._chunks[key]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)

    def finish(self) -> t.SpanTable:
        """Validate the rows (ids are errors, times are warnings) and build the table."""
        self.flush()
        if self.span_id or self.trace_id or self.parent_id:  # a decoder bug: columns would misalign
            raise AssertionError("ids appended for a row that was never finished")
        start, end = self._column("start"), self._column("end")
        self._check_times(start, end)
        cols: dict[str, Any] = {
            t.TRACE_ID: self._ids("trace_id"),
            t.SPAN_ID: self._ids("span_id"),
            t.PARENT_ID: self._ids("parent_id"),
            t.SERVICE: self._categorical("service", self.services),
            t.NAME: self._categorical("name", self.names),
            t.KIND: _enum(self._column("kind"), KINDS, "span kind", self),
            t.STATUS: _enum(self._column("status"), STATUSES, "status code", self),
            t.START: start,
            t.END: end,
            t.REF_TYPE: t.Coded(self._column("ref_type").astype(np.int8), REF_TYPES),
        }
        cols.update(self._attribute_columns())
        return self._drop_skipped(t.SpanTable.from_columns(cols, self.warnings))

    def _categorical(self, key: str, mapping: dict[str, int]) -> t.Coded:
        """A column of interned strings as a categorical; a value that is not clean text (null, a number, a
        lone surrogate) is replaced by text, warned once per value, and merged with its equal."""
        codes = self._column(key).astype(np.int32)
        values = list(mapping)
        clean = [_text(v) for v in values]
        for code in (c for c, (v, w) in enumerate(zip(values, clean, strict=True)) if v is not w):
            row = int(np.flatnonzero(codes == code)[0]) if (codes == code).any() else 0
            self.warnings.append(
                f"{self.where(row)}: span {key} {values[code]!r} replaced with {clean[code]!r}"
            )
        if not values:  # rows whose span could not be read (skipped by finish) and no other
            return t.Coded(np.full(len(codes), -1, dtype=np.int32), ())
        if clean == values:
            return t.Coded(codes, tuple(values))
        categories = list(dict.fromkeys(clean))
        merged = np.array([categories.index(c) for c in clean], dtype=np.int32)
        return t.Coded(merged[codes], tuple(categories))

    def _clean_plans(self) -> None:
        """Attribute keys and values that are not clean text (a lone surrogate from a JSON escape) replaced,
        one warning for all: they cannot be written out as UTF-8 (Arrow, the terminal, a YAML file)."""
        if not self.lone_surrogates_possible:
            return
        bad = [i for i, plan in enumerate(self.plans) if _clean(plan) is not plan]
        for i in bad:
            self.plans[i] = _clean(self.plans[i])
        if bad:
            self.warn(
                f"{len(bad)} attribute set(s) held text that is not valid Unicode, replaced with U+FFFD"
            )

    def _attribute_columns(self) -> dict[str, Any]:
        self._clean_plans()
        plan = self._column("plan")
        # plans sharing one promoted tuple (`add_plans`) are read once: their tuple's values by key (the
        # tuples told apart by identity in numpy: tens of thousands of plans, a fifth of a fold's work)
        promoted_parts = list(map(_PROMOTED_PART, self.plans))
        identity = np.fromiter(map(id, promoted_parts), dtype=np.uint64, count=len(promoted_parts))
        _, first, group = np.unique(identity, return_index=True, return_inverse=True)
        distinct = [promoted_parts[i] for i in first.tolist()]
        per_key: dict[str, tuple[list[int], list[Any]]] = {}
        for g, promoted in enumerate(distinct):
            for key, value in promoted:
                groups, values = per_key.setdefault(key, ([], []))
                groups.append(g)
                values.append(value)
        out: dict[str, Any] = {}
        for key, (groups, values) in per_key.items():
            by_group = np.full(len(distinct), None, dtype=object)
            by_group[groups] = _object_array(values)
            out[key] = by_group[group[plan]]
        others = np.empty(len(self.plans), dtype=object)
        others[:] = list(map(_OTHER_PART, self.plans))  # dicts and None: numpy takes each as one value
        attributes = others[plan]
        for row, key, value in self.extra:
            attributes[row] = {**(attributes[row] or {}), key: value}
        out[t.ATTRIBUTES] = attributes
        return out

    def _ids(self, key: str) -> pa.ChunkedArray:
        return pa.chunked_array(self._id_chunks[key], type=ids.TYPE)  # kept in chunks: no copy

    def _check_ids(self, first_row: int) -> None:
        """Ids appended since the last flush (rows from `first_row`): a span with an id that is missing, not
        hex or too long is marked to be skipped (its id replaced by a placeholder until `finish` drops it)."""
        for key, name, width, allow_empty in _IDS:
            col = getattr(self, key)
            # one C-level pass each; protobuf ids come from bytes.hex(), so only text ids need the alphabet
            if set(map(len, col)) <= ({width, 0} if allow_empty else {width}) and (
                not self.text_ids or _all_hex("".join(col))
            ):
                continue
            for row, x in enumerate(col):
                if (len(x) != width or not _ALL_HEX.fullmatch(x)) and (x or not allow_empty):
                    what = "missing" if not x else f"{x[:40]!r} is not {width} hex digits"
                    self.skip(first_row + row, f"{name} {what}")
                    col[row] = "" if allow_empty else "0" * width

    def skip(self, row: int, reason: str) -> None:
        """Leave out `row` when the table is built (`finish` warns, naming its position and `reason`)."""
        self._skipped.setdefault(row, reason)

    def read_each(self, spans: Iterable[Any], read: Callable[[Any], None]) -> None:
        """`read(span)` for each span; one that cannot be read stays a skipped row (`unreadable`)."""
        for sp in spans:
            try:
                read(sp)
            except SPAN_ERRORS as e:
                self.unreadable(e)

    def unreadable(self, error: Exception) -> None:
        """The span being appended could not be read (`error`): complete its row with placeholders, so the
        rows after it keep their positions, and skip it."""
        row = self.rows_done()
        done = len(self.plan)
        for key, placeholder in _PLACEHOLDERS:
            values = getattr(self, key)
            del values[done + 1 :]  # a decoder appends at most one value per column per span
            if len(values) == done:
                values.append(placeholder)
        if len(self.plan) == done:  # last: a complete row is one that has its plan
            self.plan.append(self.add_plan(()))
        self.skip(row, f"unreadable span ({type(error).__name__}: {str(error)[:80]})")

    def verdict(self) -> tuple[int, list[int], list[str]]:
        """What `finish` would make of the rows, without building the table: how many there are, the ones it
        would leave out (unreadable spans, in order; ids are checked first), and the warnings so far."""
        self.flush()
        rows = sorted(self._skipped)
        return self.rows_done(), rows, [*self.warnings, *self._named_skips(rows)]

    def _named_skips(self, rows: list[int]) -> list[str]:
        named = [f"{self.where(r)}: {self._skipped[r]}; span skipped" for r in rows[:_NAMED_SKIPS]]
        if len(rows) > _NAMED_SKIPS:
            named.append(f"{self.source}: {len(rows) - _NAMED_SKIPS} more unreadable span(s) skipped")
        return named

    def abandon(self, error: Exception) -> None:
        """A record failed part-way through (`error`): a row it left half-appended is completed and skipped,
        so that the rows after it stay aligned; its complete rows are kept."""
        done = len(self.plan)
        if any(len(getattr(self, key)) != done for key, _ in _PLACEHOLDERS):
            self.unreadable(error)

    def skip_record(self, error: Exception, where: str, unit: str) -> None:
        """A record of a file of many (a framed record, a line, a store file) that cannot be read: abandoned,
        and warned as `<where><why>; <unit> skipped`, so that the records after it are read."""
        self.abandon(error)
        why = (
            str(error).removeprefix(f"{self.source}: ").removeprefix(where)
            if isinstance(error, DecodeError)
            else f"malformed ({type(error).__name__}: {error})"
        )
        self.warn(f"{where}{why}; {unit} skipped")

    def _drop_skipped(self, table: t.SpanTable) -> t.SpanTable:
        """The table without the skipped rows, a warning for each of the first few; DecodeError if no span
        could be read at all."""
        if not self._skipped:
            return table
        rows = sorted(self._skipped)
        if len(rows) == len(table):
            others = f" ({len(rows) - 1} other span(s) unreadable too)" if len(rows) > 1 else ""
            raise DecodeError(
                f"{self.where(rows[0])}: {self._skipped[rows[0]]}: no span could be read{others}"
            )
        keep = np.ones(len(table), dtype=bool)
        keep[rows] = False
        kept = table.take(keep)
        kept.warnings.extend(self._named_skips(rows))
        return kept

    def _array(self, key: str, values: list[int], first_row: int) -> np.ndarray:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:  # uint64 ns beyond 2262 (or a negative JSON number below int64): a broken clock
            big = np.iinfo(np.int64).max
            rows = [i for i, v in enumerate(values) if not -big <= v <= big]
            self.warnings.append(
                f"{self.where(first_row + rows[0])}: {key} out of range, clamped; {len(rows)} span(s) like this"
            )
            return np.array([min(max(v, -big), big) for v in values], dtype=np.int64)

    def _check_times(self, start: np.ndarray, end: np.ndarray) -> None:
        dur = end - start
        read = np.ones(len(start), dtype=np.bool_)
        read[list(self._skipped)] = False  # a skipped row's times are placeholders, not the span's
        for what, bad in (
            ("end before start (kept, negative duration)", dur < 0),
            ("no start time (kept)", start <= 0),
            (
                f"duration over {ABSURD_DURATION_NS // (24 * 3600 * 10**9)} days (kept)",
                dur > ABSURD_DURATION_NS,
            ),
        ):
            rows = np.flatnonzero(bad & read)
            if len(rows):
                self.warnings.append(f"{self.where(int(rows[0]))}: {what}; {len(rows)} span(s) like this")


def _sequence_codes(items: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the sequences items[starts[i]:ends[i]], equal codes for equal sequences (numbered in order of
    first appearance), and the first sequence of each code. Each sequence is hashed (its codes weighted by
    position) in numpy; equal hashes are then checked element by element, and on a collision the sequences
    are compared as tuples."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # in place where numpy allows: an array per item, few at a time (they are the peak of a store's read)
    lengths = ends - starts
    sequence = np.repeat(np.arange(len(starts)), lengths)
    position = np.arange(int(lengths.sum()))
    position -= np.repeat(np.cumsum(lengths) - lengths, lengths)
    at = np.repeat(starts, lengths)
    at += position
    values = items[at]
    del at
    weights = _mix(np.arange(1, int(lengths.max(initial=0)) + 2, dtype=np.uint64))
    terms = values.astype(np.uint64)
    terms += np.uint64(1)
    terms *= weights[position]
    digest = np.zeros(len(starts), dtype=np.uint64)
    np.add.at(digest, sequence, terms)
    del terms
    digest ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    _, first, code = np.unique(digest, return_index=True, return_inverse=True)
    # renumbered in order of first appearance
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    code, first = rank[code], first[order]
    at = starts[first[code]][sequence]
    at += position
    same = values == items[at]
    del at
    if same.all():
        return code, first
    index: dict[tuple[int, ...], int] = {}  # a hash collision: exact, by tuples
    flat = items.tolist()
    code = np.array([index.setdefault(tuple(flat[a:b]), len(index)) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)], dtype=np.int64)  # fmt: skip
    return code, np.unique(code, return_index=True)[1]


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: unrelated-looking 64-bit numbers from consecutive ones (uint64 wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out


def _all_hex(text: str) -> bool:
    """Whether `text` is only lowercase hex digits (bytes.translate deletes them: ~10x a regex's speed)."""
    try:
        return not text.encode("ascii").translate(None, b"0123456789abcdef")
    except UnicodeEncodeError:
        return False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of acyclic objects: each collection would walk them all
    (measured: about a third of decode time on a million spans)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-d object array of `values` (np.array would turn a list of tuples into a 2-d array)."""
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # one per distinct plan, not per span
        arr[i] = v
    return arr


_SURROGATE = re.compile("[\ud800-\udfff]")  # lone halves: json.loads turns escaped pairs into one character


def _text(value: Any) -> Any:
    """`value` itself if it is text that can be written as UTF-8, else text that can ("" for null)."""
    if value.__class__ is str:
        return value if value.isascii() or not _SURROGATE.search(value) else _SURROGATE.sub("\ufffd", value)
    return "" if value is None else _text(str(value))


def _clean(value: Any) -> Any:
    """`value` itself if every string in it (keys included, tuples and dicts walked) is clean text, else a
    copy with them replaced (`_text`)."""
    if value.__class__ is str:
        return _text(value)
    if isinstance(value, tuple | list):
        items = [_clean(v) for v in value]
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        return type(value)(items) if changed else value
    if isinstance(value, dict):
        pairs = [(_clean(k), _clean(v)) for k, v in value.items()]
        changed = any(a is not k or b is not v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return dict(pairs) if changed else value
    return value


def _enum(codes: np.ndarray, names: tuple[str, ...], what: str, cols: Columns) -> t.Coded:
    """Enum codes -> categorical; an out-of-range value (a newer producer's enum) becomes names[0], warned."""
    arr = codes.copy()
    bad = np.flatnonzero((arr < 0) | (arr >= len(names)))
    if len(bad):
        cols.warnings.append(f"{cols.where(int(bad[0]))}: unknown {what} {arr[bad[0]]} read as {names[0]!r}; "
                             f"{len(bad)} span(s) like this")  # fmt: skip
        arr[bad] = 0
    return t.Coded(arr.astype(np.int8), names)


# --- id normalization -------------------------------------------------------------------------------


def hex_id(raw: str, width: int) -> str:
    """Normalize an id written as hex (any case, leading zeros maybe trimmed) or base64 to lowercase hex.

    Base64 ids (Tempo, Jaeger's domain JSON) are 12 (span) or 24 (trace) chars ending in "=": hex never
    has one. Anything else is returned as it came, so the validation in `finish` reports it with its
    position and skips the span.
    """
    if len(raw) in (12, 24) and raw.endswith("="):
        try:
            decoded = base64.b64decode(raw, validate=True).hex()
        except (binascii.Error, ValueError):
            return raw
        return decoded.rjust(width, "0") if len(decoded) <= width else raw
    hex_digits = ids.normalize(raw, width)
    return raw if hex_digits is None else hex_digits


def hex_trace_id(raw: Any) -> str:
    """Trace id -> 32 lowercase hex chars (or the raw value as text if it is not an id, "" if absent)."""
    return hex_id(raw, 32) if isinstance(raw, str) else _not_text(raw)


def hex_span_id(raw: Any) -> str:
    """Span id -> 16 lowercase hex chars (or the raw value as text if it is not an id, "" if absent)."""
    return hex_id(raw, 16) if isinstance(raw, str) else _not_text(raw)


def _not_text(raw: Any) -> str:
    """An id that is not a string (a JSON number, list, ...) as text, for the message that skips its span."""
    return "" if raw is None else repr(raw)


def is_zero_id(x: str) -> bool:
    """An all-zero id means "none" in OTLP (e.g. a root's parentSpanId)."""
    return not x.strip("0")
