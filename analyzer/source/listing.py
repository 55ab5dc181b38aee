"""The executions a decoded table holds, one `ExecutionSummary` each, and the ids to suggest for a wrong one.

An execution's spans are the ones `analyzer.execution.select_execution` keeps: those tagged with its exec_id
and the un-tagged spans (gRPC events, admin-server spans) of the traces holding one of them. A table is first
counted per trace (`partial`), then the counts are joined (`combine`): so a store is summarised file by file,
an execution whose traces lie in several files counted once with every file named, and a backend's per-trace
search answers (Tempo) are joined by the same rule.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analyzer import table as T
from analyzer.results.listing import ExecutionSummary
from analyzer.store.index import NO_END, NO_START, FileIndex
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["SUGGESTED", "Partial", "combine", "hint", "indexed", "partial", "summaries", "trace_rows"]

SUGGESTED = 3  # nearest and newest ids named when an id is not found
_SPANS, _WORKFLOW, _WHERE = "spans", "workflow", "where"
_CLOSE = 0.6  # difflib's ratio from which an id is "near" (a typo of a 20-character Flyte id scores ~0.95)
# The per-trace counts: how many spans, first start, last end.
_COUNTS = {_SPANS: (T.START, "size"), T.START: (T.START, "min"), T.END: (T.END, "max")}


@dataclass(frozen=True)
class Partial:
    """One table's spans counted per trace: `tagged` one row per (trace_id, exec_id), `untagged` one row per
    trace_id, each with spans, start_ns, end_ns and where (and the workflow, for tagged)."""

    tagged: pd.DataFrame
    untagged: pd.DataFrame


def partial(table: SpanTable, where: str) -> Partial:
    """The per-trace counts of `table`, whose spans are all at `where` (a file, a URL)."""
    df = table.df
    exec_ids = df[semconv.EXEC_ID].to_numpy(dtype=object)
    tagged = pd.notna(exec_ids)
    # Grouped by integer codes of the ids, made from Python strings: an Arrow column read one span per
    # line has a chunk per span, and masking or hashing it there made the whole 5-10x slower (49,553
    # spans: 0.6-1 s against 0.1 s, measured).
    trace, trace_ids = pd.factorize(df[T.TRACE_ID].to_numpy(dtype=object))
    execution, names = pd.factorize(exec_ids[tagged].astype(str).astype(object))
    times = pd.DataFrame({T.TRACE_ID: trace, T.START: df[T.START].to_numpy(), T.END: df[T.END].to_numpy()})
    own = times[tagged].assign(
        **{semconv.EXEC_ID: execution, _WORKFLOW: df[semconv.WORKFLOW].to_numpy(dtype=object)[tagged]}
    )
    by_exec = own.groupby([T.TRACE_ID, semconv.EXEC_ID], sort=False).agg(
        **_COUNTS, **{_WORKFLOW: (_WORKFLOW, "first")}
    )
    by_exec = by_exec.reset_index()
    by_exec[semconv.EXEC_ID] = pd.Series(names[by_exec[semconv.EXEC_ID].to_numpy()], dtype=object)
    loose = times[~tagged].groupby(T.TRACE_ID, sort=False).agg(**_COUNTS).reset_index()
    return Partial(_named(by_exec, trace_ids, where), _named(loose, trace_ids, where))


def indexed(index: FileIndex, where: str) -> Partial:
    """The counts a store file's index holds (analyzer/store/index.py): each trace's spans, first start and
    last end, shared by every execution tagged in it (a trace holding two executions counts for both, where
    a fold would leave out the other's tagged spans), and which executions each trace holds."""
    members = [
        # an execution-in-trace row adds no span and moves neither end: the trace's own row has them
        (index.trace_ids[code], exec_id, entry.workflow, 0, NO_START, NO_END)
        for exec_id, entry in index.executions.items()
        for code in entry.traces
    ]
    shared = [(trace, *stats) for trace, stats in zip(index.trace_ids, index.trace_stats, strict=True)]
    return Partial(
        _frame(members, [T.TRACE_ID, semconv.EXEC_ID, _WORKFLOW, _SPANS, T.START, T.END], where),
        _frame(shared, [T.TRACE_ID, _SPANS, T.START, T.END], where),
    )


def trace_rows(rows: Iterable[tuple[str, str, str | None, int, int, int | None]], where: str) -> Partial:
    """A backend's search answer as counts: (trace_id, exec_id, workflow, start_ns, end_ns, spans or None) each."""
    columns = [T.TRACE_ID, semconv.EXEC_ID, _WORKFLOW, T.START, T.END, _SPANS]
    return Partial(_frame(rows, columns, where), _frame([], [T.TRACE_ID, _SPANS, T.START, T.END], where))


def combine(partials: Iterable[Partial]) -> list[ExecutionSummary]:
    """Every execution in the partials, newest first (ties by id): each trace's un-tagged spans count for
    every execution tagged in that trace, in whichever partial they were."""
    parts = list(partials)
    if not parts:
        return []
    tagged = pd.concat([p.tagged for p in parts], ignore_index=True)
    untagged = pd.concat([p.untagged for p in parts], ignore_index=True)
    pairs = tagged[[T.TRACE_ID, semconv.EXEC_ID]].drop_duplicates()
    rows = pd.concat([tagged, untagged.merge(pairs, on=T.TRACE_ID)], ignore_index=True)
    by_exec = rows.groupby(semconv.EXEC_ID, sort=False)
    found = by_exec.agg(
        spans=(_SPANS, lambda s: s.sum(min_count=len(s))),  # one trace of unknown size: unknown
        start_ns=(T.START, "min"),
        end_ns=(T.END, "max"),
        workflow=(_WORKFLOW, "first"),
        where=(_WHERE, lambda s: tuple(sorted(set(s)))),
    )
    out = [
        ExecutionSummary(
            exec_id=str(exec_id),
            workflow=None if pd.isna(workflow) else str(workflow),
            start_ns=int(start),
            end_ns=int(end),
            spans=None if pd.isna(spans) else int(spans),
            where=where,
        )
        for exec_id, spans, start, end, workflow, where in found.itertuples()
    ]
    return sorted(out, key=lambda e: (-e.start_ns, e.exec_id))


def summaries(table: SpanTable, where: str) -> list[ExecutionSummary]:
    """Every execution of `table`, newest first; its spans are all at `where`."""
    return combine([partial(table, where)])


def hint(exec_id: str, executions: Sequence[ExecutionSummary]) -> str:
    """'nearest: ...; newest: ...' for an id not found, from a newest-first listing (empty: says so)."""
    if not executions:
        return "no span there has an exec_id at all"
    ids = [e.exec_id for e in executions]
    nearest = _nearest(exec_id, ids)
    newest = ", ".join(ids[:SUGGESTED])
    more = f" (of {len(ids)}: otel-fold list shows them all)" if len(ids) > SUGGESTED else ""
    return (f"nearest: {', '.join(nearest)}; " if nearest else "") + f"newest: {newest}{more}"


def _nearest(exec_id: str, ids: list[str]) -> list[str]:
    """The ids most like `exec_id` by difflib's ratio (as get_close_matches scores them), the newer first
    among equals."""
    matcher = difflib.SequenceMatcher(b=exec_id)
    scored = []
    for order, candidate in enumerate(ids):
        matcher.set_seq1(candidate)
        if matcher.ratio() >= _CLOSE:
            scored.append((-matcher.ratio(), order, candidate))
    return [candidate for *_, candidate in sorted(scored)[:SUGGESTED]]


def _named(counts: pd.DataFrame, trace_ids: np.ndarray, where: str) -> pd.DataFrame:
    """Counts keyed by trace code, keyed by trace id instead (codes differ between tables), at `where`."""
    named = pd.Series(trace_ids[counts[T.TRACE_ID].to_numpy()], dtype=object)
    return counts.assign(**{T.TRACE_ID: named, _WHERE: where})


def _frame(rows: Iterable[tuple[Any, ...]], columns: list[str], where: str) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns).assign(where=where)
