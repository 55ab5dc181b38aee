"""The executions a source holds as a table, one line each, newest first: id, workflow, start, duration, spans,
where. Times are the reader's local time with its UTC offset, so a line says its own time zone."""

from __future__ import annotations

from collections.abc import Sequence

from analyzer.clock import moment
from analyzer.results.listing import ExecutionSummary
from analyzer.safe_text import printable
from analyzer.units import format_duration

__all__ = ["HEADER", "local_time", "render", "where_text"]

# The table's column titles, in order.
HEADER = ("EXECUTION", "WORKFLOW", "START", "DURATION", "SPANS", "WHERE")
_SHOWN_PLACES = 2  # an execution spread over more store files names this many, then counts the rest
_GAP = "  "


def render(executions: Sequence[ExecutionSummary]) -> str:
    """The table, columns padded to their widest cell."""
    rows = [HEADER, *(_cells(e) for e in executions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "".join(
        _GAP.join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def local_time(ns: int) -> str:
    """'2026-01-01 05:30:00+05:30': the date and time (to the second) in the local zone, with its UTC offset."""
    return moment(ns, None).isoformat(sep=" ", timespec="seconds")


def where_text(where: Sequence[str]) -> str:
    """The places an execution is, the first few named and the rest counted."""
    shown = ", ".join(where[:_SHOWN_PLACES])
    rest = len(where) - _SHOWN_PLACES
    return shown + (f" (+{rest} more)" if rest > 0 else "")


def _cells(e: ExecutionSummary) -> tuple[str, ...]:
    # ids, workflow names and file names are trace (or file system) content: shown inert
    return (
        printable(e.exec_id),
        printable(e.workflow) if e.workflow is not None else "-",
        local_time(e.start_ns),
        format_duration(e.duration_ns),
        str(e.spans) if e.spans is not None else "-",
        printable(where_text(e.where)),
    )
