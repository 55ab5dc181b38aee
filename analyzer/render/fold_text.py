"""The fold as text: ``Timestamp  Offset  Duration  Hierarchical Layout``, one line per span or collapsed run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from analyzer import table as t
from analyzer.reduce.fold import Fold
from analyzer.units import format_bytes, format_duration
from flyte_otel import semconv as sc

HEADER = ("Timestamp", "Offset", "Duration", "Hierarchical Layout")
_INDENT = "  "


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
    # UTC time of day with microseconds (21:05:01.123456), converted for all lines at once
    stamps = np.datetime_as_string(fold.start_ns.astype("datetime64[ns]"), unit="us").tolist()
    for stamp, rec in zip(stamps, records(fold), strict=True):
        yield (
            f"{stamp[11:]:<16} {format_duration(rec['offset_ns']):>12}"
            f" {format_duration(rec['duration_ns']):>12}  {_INDENT * rec['depth']}{rec['number']} {rec['label']}"
        )


def records(fold: Fold) -> Iterator[dict[str, Any]]:
    """One dict per line: number ("1.2.3"), depth, start/offset/duration in ns, label; count/p50/max for runs."""
    df = fold.execution.table.df
    origin = fold.execution.start_ns
    rows = fold.rows
    names, services, categories = (_column(df, c, rows) for c in (t.NAME, t.SERVICE, t.CATEGORY))
    parts = [([_column(df, c, rows) for c in cols], read) for cols, read in LABEL_PARTS]
    depths, ordinals, counts = fold.depth.tolist(), fold.ordinal.tolist(), fold.count.tolist()
    starts, durations = fold.start_ns.tolist(), fold.duration_ns.tolist()
    path: list[str] = []
    for i in range(len(rows)):
        depth = depths[i]
        del path[depth:]
        path.append(str(ordinals[i]))
        head = _head(categories[i], names[i], services[i])
        rec: dict[str, Any] = {
            "number": ".".join(path),
            "depth": depth,
            "start_ns": starts[i],
            "offset_ns": starts[i] - origin,
            "duration_ns": durations[i],
        }
        count = counts[i]
        if count > 1:
            p50, mx, below = int(fold.p50_ns[i]), int(fold.max_ns[i]), int(fold.hidden[i])
            rec["label"] = f"×{count} {head}  p50 {format_duration(p50)} max {format_duration(mx)}" + (
                f"  (+{below} spans below)" if below else ""
            )
            rec.update(count=count, p50_ns=p50, max_ns=mx, spans_below=below)
        else:
            shown = (read(*(c[i] for c in cols)) for cols, read in parts if cols[0][i] is not None)
            rec["label"] = " ".join([head, *(p for p in shown if p)])
        yield rec


def _column(df: pd.DataFrame, column: str, rows: np.ndarray) -> list[Any]:
    """The column's values at `rows` as Python objects, None where missing."""
    values = df[column].astype(object).to_numpy()[rows]
    values[pd.isna(values)] = None
    return values.tolist()


def _head(category: str, name: str, service: str | None) -> str:
    if category == sc.Category.OTHER:
        return f"{category} {service}: {name}" if service else f"{category} {name}"
    # Known operations are recognised by the category, so the Go package path adds nothing,
    # and a short name that only repeats the category ("streak streak") is dropped.
    short = name.rsplit("/", 1)[-1]
    return category if short == category else f"{category} {short}"
