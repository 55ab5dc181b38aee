"""The fold as text: ``Timestamp  Offset  Duration  Hierarchical Layout``, one line per span or collapsed run."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import arrays
from analyzer import table as t
from analyzer.results.fold import Fold
from analyzer.safe_text import printable
from analyzer.units import format_bytes, format_duration, format_durations
from flyte_otel import semconv as sc

__all__ = ["HEADER", "LABEL_PARTS", "lines", "records", "render"]

# The fold's column headings.
HEADER = ("Timestamp", "Offset", "Duration", "Hierarchical Layout")
_INDENT = "  "
_CHUNK = 1 << 16  # lines made at once


# What a line's label shows after its category and name, in this order: (the attribute columns a part
# reads, how it reads them). A part is shown when the span carries the first of its columns.
LABEL_PARTS: tuple[tuple[tuple[str, ...], Callable[..., str | None]], ...] = (
    ((sc.NODE_ID,), lambda node: f"node={node}"),
    ((sc.ATTEMPT_NUMBER,), lambda number: f"attempt={int(number)}"),
    ((sc.PHASE, sc.PHASE_FROM), lambda to, frm: f"phase {frm}→{to}" if frm is not None else f"phase {to}"),
    ((sc.BLOB_SIZE,), lambda size: f"blob {format_bytes(size)}"),
    ((sc.ETCD_SIZE,), lambda size: f"etcd {format_bytes(size)}"),
    ((sc.CACHE_HIT,), lambda hit: "cache hit" if hit else "cache miss"),
    ((t.STATUS,), lambda status: "ERROR" if status == "error" else None),
)


def render(fold: Fold) -> str:
    """The whole fold as text, header included."""
    return "\n".join(lines(fold)) + "\n"


def lines(fold: Fold) -> Iterator[str]:
    """The fold's text lines, one at a time (a million-span fold need not be held as one string)."""
    yield f"{HEADER[0]:<16} {HEADER[1]:>12} {HEADER[2]:>12}  {HEADER[3]}"
    numbers, labels = _numbers(fold), _labels(fold)
    # Lines are put together by Arrow's string kernels, _CHUNK at a time: one by one, the f-string and the
    # time's formatting alone cost ~3 µs a line (measured), as much as the rest of the fold
    for lo in range(0, len(fold), _CHUNK):
        at = slice(lo, lo + _CHUNK)
        start = fold.start_ns[at]
        n = len(start)
        text = pc.binary_join_element_wise(
            _time_of_day(start),
            pc.utf8_lpad(arrays.strings(format_durations(start - fold.execution.start_ns)), 13),
            pc.utf8_lpad(arrays.strings(format_durations(fold.duration_ns[at])), 13),
            arrays.repeat("  ", n),
            arrays.strings([_INDENT * d for d in fold.depth[at].tolist()]),
            arrays.strings(list(itertools.islice(numbers, _CHUNK))),
            arrays.repeat(" ", n),
            arrays.strings(labels[at]),
            arrays.repeat("", n),
        )
        yield from text.to_pylist()


def _time_of_day(ns: np.ndarray) -> pa.Array:
    """UTC time of day with microseconds ("21:05:01.123456 ", padded to 16), microseconds cut off as
    numpy's datetime64 does: the digits hhmmssuuuuuu as one number, then cut apart (Arrow's strftime
    takes 1.3 µs a value, measured)."""
    us = ns // 1_000
    day_us = us % (86_400 * 10**6)
    seconds, micro = np.divmod(day_us, 10**6)
    hours, rest = np.divmod(seconds, 3600)
    digits = pc.utf8_lpad(
        pc.cast(
            arrays.integers(((hours * 100 + rest // 60) * 100 + rest % 60) * 10**6 + micro), arrays.STRING
        ),
        12,
        "0",
    )
    part = [pc.utf8_slice_codeunits(digits, a, b) for a, b in ((0, 2), (2, 4), (4, 6), (6, 12))]
    colon, dot, space, none = (arrays.repeat(s, len(ns)) for s in (":", ".", " ", ""))
    return pc.binary_join_element_wise(part[0], colon, part[1], colon, part[2], dot, part[3], space, none)


def records(fold: Fold) -> Iterator[dict[str, Any]]:
    """One dict per line: number ("1.2.3"), depth, start/offset/duration in ns, label; count/p50/max for runs."""
    origin = fold.execution.start_ns
    depths, counts = fold.depth.tolist(), fold.count.tolist()
    starts, durations = fold.start_ns.tolist(), fold.duration_ns.tolist()
    for i, (number, label) in enumerate(zip(_numbers(fold), _labels(fold), strict=True)):
        rec: dict[str, Any] = {
            "number": number,
            "depth": depths[i],
            "start_ns": starts[i],
            "offset_ns": starts[i] - origin,
            "duration_ns": durations[i],
            "label": label,
        }
        if counts[i] > 1:
            rec.update(count=counts[i], p50_ns=int(fold.p50_ns[i]), max_ns=int(fold.max_ns[i]),
                       spans_below=int(fold.hidden[i]))  # fmt: skip
        yield rec


def _numbers(fold: Fold) -> Iterator[str]:
    """Each line's number: its ordinal among its siblings after its parent's number ("1.2.3")."""
    at_depth: list[str] = []  # the number of the last line seen at each depth
    for depth, ordinal in zip(fold.depth.tolist(), fold.ordinal.tolist(), strict=True):
        number = f"{at_depth[depth - 1]}.{ordinal}" if depth else str(ordinal)
        del at_depth[depth:]
        at_depth.append(number)
        yield number


def _labels(fold: Fold) -> list[str]:
    """Each line's label: category, name, then LABEL_PARTS; a collapsed run's count, p50 and max instead.
    Lines alike share one label (made once: spans of one kind and node repeat in every round)."""
    table = fold.execution.table
    rows = fold.rows
    columns = [_column(table, c, rows) for c in (t.CATEGORY, t.NAME, t.SERVICE)]
    # the node a line belongs to is the fold's (an event span names none upstream: its handleNode's)
    columns += [
        fold.node.tolist() if c == sc.NODE_ID else _column(table, c, rows)
        for cols, _ in LABEL_PARTS
        for c in cols
    ]
    made: dict[tuple[Any, ...], str] = {}
    out = []
    for key in zip(*columns, strict=True):
        label = made.get(key)
        if label is None:
            label = made[key] = printable(_label(key))  # trace content: shown inert
        out.append(label)
    category, name, service = columns[:3]
    for i in np.flatnonzero(fold.count > 1).tolist():
        count, p50, mx, below = (
            int(fold.count[i]),
            int(fold.p50_ns[i]),
            int(fold.max_ns[i]),
            int(fold.hidden[i]),
        )
        head = printable(_head(category[i], name[i], service[i]))
        out[i] = f"×{count} {head}  p50 {format_duration(p50)} max {format_duration(mx)}" + (
            f"  (+{below} spans below)" if below else ""
        )
    return out


def _label(key: tuple[Any, ...]) -> str:
    """The label of a single span from its values: (category, name, service, then LABEL_PARTS' columns)."""
    parts = [_head(*key[:3])]
    at = 3
    for cols, read in LABEL_PARTS:
        values = key[at : at + len(cols)]
        at += len(cols)
        if values[0] is not None and (part := read(*values)):
            parts.append(part)
    return " ".join(parts)


def _column(table: t.SpanTable, column: str, rows: np.ndarray) -> list[Any]:
    """The column's values at `rows` as Python objects, None where missing."""
    values = table.column(column)[rows]
    values[t.missing(values)] = None
    return list(values.tolist())


def _head(category: str, name: str, service: str | None) -> str:
    if category == sc.Category.OTHER:
        return f"{category} {service}: {name}" if service else f"{category} {name}"
    # Known operations are recognised by the category, so the Go package path adds nothing,
    # and a short name that only repeats the category ("streak streak") is dropped.
    short = name.rsplit("/", 1)[-1]
    return category if short == category else f"{category} {short}"
