"""An execution's spans from a Source, stitched, and the child executions its launch plans started.

A launch plan node starts a child execution with an id of its own, so the child's spans are in other traces
(flyte_otel derives one trace per execution id; upstream, each round is a trace): the search for the parent
does not return them. The parent's spans name the child (``flyte.child_exec_id``), so it is fetched by id.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from analyzer.errors import AnalyzerError, NotFound
from analyzer.execution import stitch
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["MAX_NESTING", "child_executions", "execution_table", "named_execution"]

if TYPE_CHECKING:
    from analyzer.source import Source


class _ById(Protocol):
    """Where child executions are read from: a Source, or spans already in memory (the notebook's)."""

    def execution(self, exec_id: str) -> SpanTable: ...


log = logging.getLogger("analyzer")
MAX_NESTING = 32  # launch plans launching launch plans: deeper than this is a cycle, not a workflow


def execution_table(src: Source, exec_id: str) -> SpanTable:
    """One execution's spans from `src`, stitched (a repeated span kept once), each stitch warning logged;
    NotFound names the nearest and newest ids."""
    return _stitched(named_execution(src, exec_id), exec_id)


def named_execution(src: Source, exec_id: str) -> SpanTable:
    """``src.execution(exec_id)`` for an id a user typed: when there is none, the NotFound also names the
    nearest ids and the newest ones that `src` lists (or, if it cannot list them, is left as it was)."""
    try:
        return src.execution(exec_id)
    except NotFound as e:
        missing = e
    from analyzer.source import listing  # pandas: only a wrong id is listed against

    try:
        suggestion = listing.hint(exec_id, src.executions())
    except NotFound as e:  # nothing to suggest: say so, unless the first message already does
        if str(e) in str(missing):
            raise missing from None
        suggestion = listing.hint(exec_id, [])
    except AnalyzerError as e:  # a backend that answered the search but not the listing
        log.info("listing the executions for suggestions failed: %s", e)
        raise missing from None
    raise NotFound(f"{missing}; {suggestion}") from None


def _stitched(table: SpanTable, exec_id: str) -> SpanTable:
    ex = stitch(table, exec_id)
    for warning in ex.warnings:
        log.warning("warning: %s", warning)
    return ex.table


def child_executions(src: _ById, table: SpanTable, exec_id: str | None) -> dict[str, SpanTable]:
    """Every launch plan's child execution named in `table`, recursively, by id; one not found is logged and left out."""
    out: dict[str, SpanTable] = {}
    pending = [table]
    while pending and len(out) < MAX_NESTING:
        ids = pending.pop().df[semconv.CHILD_EXEC_ID].dropna().astype(str).unique()
        for child in ids:
            if child in out or child == exec_id:
                continue
            try:
                out[child] = _stitched(src.execution(child), child)
            except NotFound as e:  # the timeline then says the child is not available
                log.warning("warning: launch plan child %s: %s", child, e)
                continue
            pending.append(out[child])
    return out
