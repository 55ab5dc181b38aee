"""The fold as text: ``Timestamp  Offset  Duration  Hierarchical Layout``, one line per span or collapsed run, and
a total line for the execution as a whole (fold-logs.py's first line, "1 Workflow")."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from analyzer import arrays
from analyzer import table as t
from analyzer.render import stamps
from analyzer.results.fold import Fold, FoldView
from analyzer.safe_text import printable
from analyzer.units import format_bytes, format_duration, format_durations
from flyte_otel import semconv as sc

__all__ = ["HEADER", "LABEL_PARTS", "TOTAL", "lines", "records", "render", "total_record"]

# The fold's column headings.
HEADER = ("Timestamp", "Offset", "Duration", "Hierarchical Layout")
# What the last line's layout column starts with: the execution as a whole.
TOTAL = "total"
_PLAIN = FoldView()
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


def render(fold: Fold, view: FoldView = _PLAIN) -> str:
    """The whole fold as text: header, lines, and the total line."""
    return "\n".join(lines(fold, view)) + "\n"


def lines(fold: Fold, view: FoldView = _PLAIN) -> Iterator[str]:
    """The fold's text lines, one at a time (a million-span fold need not be held as one string); the total
    line last."""
    yield f"{HEADER[0]:<{stamps.width(view.clock)}} {HEADER[1]:>13} {HEADER[2]:>12}  {HEADER[3]}"
    numbers, labels = _numbers(fold), _labels(fold)
    ids = _ids(fold, view) if view.ids else None
    # Lines are put together by Arrow's string kernels, _CHUNK at a time: one by one, the f-string and the
    # time's formatting alone cost ~3 µs a line (measured), as much as the rest of the fold
    for lo in range(0, len(fold), _CHUNK):
        at = slice(lo, lo + _CHUNK)
        start = fold.start_ns[at]
        n = len(start)
        text = arrays.join(
            stamps.stamps(start, view.clock),
            arrays.lpad(arrays.strings(format_durations(start - fold.execution.start_ns)), 14),
            arrays.lpad(arrays.strings(format_durations(fold.duration_ns[at])), 13),
            arrays.repeat("  ", n),
            arrays.strings([_INDENT * d for d in fold.depth[at].tolist()]),
            arrays.strings(list(itertools.islice(numbers, _CHUNK))),
            arrays.repeat(" ", n),
            arrays.strings(labels[at]),
            arrays.strings(ids[at]) if ids is not None else arrays.repeat("", n),
            arrays.repeat("", n),
        )
        yield from text.to_pylist()
    yield _total_line(fold, view)


def _total_line(fold: Fold, view: FoldView) -> str:
    """The execution as a whole, in the columns of a line: its start, 0ns, first start to last end; then what
    that is, with the start in full (date and zone), and the rounds."""
    total = fold.total
    (stamp,) = stamps.stamps(np.array([total.start_ns], dtype=np.int64), view.clock).to_pylist()
    exec_id = fold.execution.exec_id
    whose = f"execution {printable(exec_id)}" if exec_id else "every span"
    plural = "s" if total.rounds > 1 else ""
    rounds = (f"{total.rounds} round{plural}, {format_duration(total.round_ns)} in rounds" if total.rounds
              else "no propeller rounds")  # fmt: skip
    return (
        f"{stamp} {format_duration(0):>13} {format_duration(total.duration_ns):>12}  {TOTAL} of {whose}: "
        f"{total.spans} spans, first start to last end, from {view.clock.describe(total.start_ns)}; {rounds}"
    )


def _ids(fold: Fold, view: FoldView) -> list[str]:
    """Each line's "  trace=… span=…", and the link to its trace's page when the view has one."""
    link = view.trace_link
    return [
        printable(
            f"  trace={tid} span={sid}" + (" " + link.format(trace_id=tid, span_id=sid) if link else "")
        )
        for tid, sid in _id_pairs(fold)
    ]


def _id_pairs(fold: Fold) -> list[tuple[str, str]]:
    """(trace id, span id) of each line's span."""
    table = fold.execution.table
    columns = []
    for column in (t.TRACE_ID, t.SPAN_ID):
        held = table.ids(column)
        values = (
            held[fold.rows] if isinstance(held, np.ndarray) else arrays.take(held, arrays.integers(fold.rows))
        )
        columns.append(
            [str(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values.to_pylist())]
        )
    return list(zip(*columns, strict=True))


def records(fold: Fold, view: FoldView = _PLAIN) -> Iterator[dict[str, Any]]:
    """One dict per line: number ("1.2.3"), depth, start/offset/duration in ns, label; count/p50/max for runs;
    with the view's ids, trace_id and span_id (and link)."""
    origin = fold.execution.start_ns
    depths, counts = fold.depth.tolist(), fold.count.tolist()
    starts, durations = fold.start_ns.tolist(), fold.duration_ns.tolist()
    ids = _id_pairs(fold) if view.ids else []
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
        if ids:
            tid, sid = ids[i]
            rec.update(trace_id=tid, span_id=sid)
            if view.trace_link:
                rec["link"] = view.trace_link.format(trace_id=tid, span_id=sid)
        yield rec


def total_record(fold: Fold) -> dict[str, Any]:
    """The total line as a mapping: start in ns since the epoch, duration in ns, spans, rounds, round_ns."""
    total = fold.total
    return {"start_ns": total.start_ns, "duration_ns": total.duration_ns, "spans": total.spans,
            "rounds": total.rounds, "round_ns": total.round_ns}  # fmt: skip


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
