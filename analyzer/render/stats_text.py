"""Trace statistics as a text table, in the columns of Jaeger UI's Trace Statistics."""

from __future__ import annotations

import pandas as pd

from analyzer.safe_text import printable
from analyzer.units import format_duration

__all__ = ["COLUMNS", "render"]

# (column of analyzer.reduce.self_time.statistics, heading); every duration column is in ns.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("count", "Count"),
    ("total", "Total"),
    ("avg", "Avg"),
    ("min", "Min"),
    ("max", "Max"),
    ("self_total", "Self total"),
    ("self_avg", "Self avg"),
    ("self_min", "Self min"),
    ("self_max", "Self max"),
    ("percent", "% of trace"),
)


def render(stats: pd.DataFrame) -> str:
    """One row per group, widest key first column, durations in human units."""
    keys = [printable(str(k)) if str(k) else "(none)" for k in stats.index]  # trace content: shown inert
    cells = [[_cell(col, stats[col].iat[i]) for col, _ in COLUMNS] for i in range(len(stats))]
    key_width = max([len(str(stats.index.name or "group")), *map(len, keys)])
    widths = [max([len(h), *(len(r[j]) for r in cells)]) for j, (_, h) in enumerate(COLUMNS)]
    head = f"{stats.index.name or 'group':<{key_width}}  " + "  ".join(
        f"{h:>{w}}" for (_, h), w in zip(COLUMNS, widths, strict=True)
    )
    body = [
        f"{k:<{key_width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r, widths, strict=True))
        for k, r in zip(keys, cells, strict=True)
    ]
    return "\n".join([head, *body]) + "\n"


def _cell(column: str, value: float) -> str:
    if column == "count":
        return str(int(value))
    if column == "percent":
        return f"{value:.2f}%"
    return format_duration(round(value))
