"""Grafana Tempo: find an execution's traces with TraceQL, then fetch each whole (API v2, else the v1 API); list
the window's executions from TraceQL search answers alone (docs/deploy.md, "Listing executions").

A trace Tempo could only partly read (v2 ``"status": "PARTIAL"``) is kept, with the decoder's warning.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from analyzer import ids
from analyzer.decode import decode, decode_into
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import AnalyzerError, BackendError, NotFound
from analyzer.results.listing import ExecutionSummary
from analyzer.source import paths
from analyzer.source.config import RemoteConfig
from analyzer.source.http import HttpClient, Response, fetch_each
from analyzer.source.widen import widen
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = [
    "ECHO_PATH",
    "LIST_QUERY",
    "SEARCH_PATH",
    "TRACE_ENDPOINTS",
    "TRACE_PAGE",
    "WORKFLOW_QUERY",
    "TempoSource",
]

log = logging.getLogger(__name__)

# Tempo's TraceQL search and health routes.
SEARCH_PATH = "/api/search"
ECHO_PATH = "/api/echo"
# The listing's TraceQL: a span of each trace with an exec_id, newest traces first (`!= nil`: Tempo 2.3; the
# `with` hint: 2.4; most_recent honoured from 2.8, ignored before), and the same for the workflow's name.
LIST_QUERY = f"{{ span.{semconv.EXEC_ID} != nil }} | select(span.{semconv.EXEC_ID}) with (most_recent=true)"
WORKFLOW_QUERY = (
    f"{{ span.{semconv.WORKFLOW} != nil }} | select(span.{semconv.EXEC_ID}, span.{semconv.WORKFLOW}) "
    "with (most_recent=true)"
)
_NS = 10**9
_MS = 10**6


@dataclass(frozen=True)
class _TraceEndpoint:
    path: str
    accept: str  # v1 answers OTLP protobuf when asked: the fastest payload to decode


# A trace's page: Tempo has no UI of its own, and its trace-by-id route answers the whole trace
# (grafana/tempo v2.9.2 pkg/api/http.go:73, PathTraces); through Grafana's datasource proxy as well.
TRACE_PAGE = "/api/traces/{trace_id}"
# Tried in order until the server has one (Tempo < 2.6 has no v2); the first that answers is kept.
TRACE_ENDPOINTS: tuple[_TraceEndpoint, ...] = (
    _TraceEndpoint("/api/v2/traces/{id}", "application/json"),
    _TraceEndpoint("/api/traces/{id}", "application/protobuf"),
)


class TempoSource:
    """An execution's traces from Tempo's HTTP API."""

    name = "Tempo"

    def __init__(self, config: RemoteConfig, *, client: HttpClient | None = None) -> None:
        if not config.url:
            raise AnalyzerError(
                "the tempo backend needs --url (or OTEL_FOLD_URL), e.g. http://localhost:3200"
            )
        self.config = config
        self.client = client or HttpClient(config.url, config.http())
        self._endpoint: int | None = None  # index into TRACE_ENDPOINTS once one has answered
        self._lock = threading.Lock()

    def trace_link(self) -> str | None:
        """The template of a trace's URL at this Tempo ({trace_id}; the span is not addressable there)."""
        return paths.link_template(self.url, TRACE_PAGE)

    def health(self) -> None:
        """Raise BackendError unless the query frontend answers its echo endpoint."""
        self.client.get(ECHO_PATH, accept="text/plain")

    def execution(self, exec_id: str) -> SpanTable:
        """Every span of every trace holding a span with exec_id = `exec_id` in the window; NotFound if none."""
        trace_ids, warnings = self.search(exec_id)
        if not trace_ids:
            raise NotFound(self._searched(f"{semconv.EXEC_ID}={exec_id}", 0))
        # Answers are decoded into one set of columns as they arrive, in order: one table is built at the
        # end (building a table per trace costs more than decoding a small round trace).
        cols = Columns(self.name)
        fetched = 0
        answers = fetch_each(trace_ids, self._get, concurrency=self.config.concurrency, what="Tempo traces")
        with gc_paused():
            for tid, resp in zip(trace_ids, answers, strict=True):
                if resp is None:
                    warnings.append(f"trace {tid} was listed by the search but not found at {self.url}")
                    continue
                decode_into(resp.body, cols, where=f"{resp.url}: ")
                fetched += 1
            if not fetched:
                raise NotFound(
                    self._searched(f"{semconv.EXEC_ID}={exec_id}", len(trace_ids))
                    + ", none of which could be fetched"
                )
            table = cols.finish()
        table.warnings[:0] = warnings
        return table

    def search(self, exec_id: str) -> tuple[list[str], list[str]]:
        """Trace ids (32 hex) with a span exec_id = `exec_id` in the window, and warnings; raises the limit while full."""
        (trace_ids, incomplete), full = widen(
            lambda limit: self._search(exec_id, limit),
            limit=self.config.limit,
            max_limit=self.config.max_limit,
            backend=self.name,
            searched=f"{semconv.EXEC_ID}={exec_id}",
        )
        return trace_ids, full + incomplete

    def _search(self, exec_id: str, limit: int) -> tuple[tuple[list[str], list[str]], int]:
        """One search: (unique trace ids, a warning if it did not run to the end) and the traces returned."""
        q = f"{{ span.{semconv.EXEC_ID} = {json.dumps(exec_id)} }}"  # a JSON string is a TraceQL string
        answer = self._query(q, limit, f"{semconv.EXEC_ID}={exec_id}", _trace_ids)
        warnings = [
            f"{answer.url}: search listed trace id {raw[:40]!r}, not an id of at most 32 hex digits; skipped"
            for raw, tid in answer.found
            if tid is None
        ]
        found = list(dict.fromkeys(tid for _, tid in answer.found if tid is not None))
        return (found, warnings + answer.warnings), answer.returned

    def executions(self) -> list[ExecutionSummary]:
        """Every execution with a span in the window, newest first (Tempo's `most_recent` search, 2.8 and later),
        each with the spans, start and length of its traces as Tempo's search answers them; NotFound if none."""
        rows, _ = widen(  # its warning is logged
            self._list,
            limit=self.config.limit,
            max_limit=self.config.max_limit,
            backend=self.name,
            searched=f"spans with an {semconv.EXEC_ID}",
        )
        if not rows.found:
            raise NotFound(self._searched(f"spans with an {semconv.EXEC_ID}", 0))
        workflows = self._workflows(rows.asked)
        named = [(t, e, workflows.get(e), start, end, spans) for t, e, start, end, spans in rows.found]
        from analyzer.source import listing  # pandas: folding an execution does without it

        return listing.combine([listing.trace_rows(named, self.url)])

    @property
    def url(self) -> str:
        """The backend's base URL (for messages and listings)."""
        return self.client.base_url

    def _list(self, limit: int) -> tuple[_Answer[list[_TraceRow]], int]:
        answer = self._query(LIST_QUERY, limit, f"spans with an {semconv.EXEC_ID}", _trace_rows)
        return answer, answer.returned

    def _workflows(self, limit: int) -> dict[str, str]:
        """exec_id -> workflow name, from the newest traces that have one (as many as the listing read)."""
        answer = self._query(WORKFLOW_QUERY, limit, f"spans with a {semconv.WORKFLOW}", _workflow_pairs)
        return dict(answer.found)

    def _query(self, q: str, limit: int, searched: str, read: Callable[[list[Any]], R]) -> _Answer[R]:
        """One TraceQL search, its traces read by `read`; a warning if Tempo did not run all of it."""
        params: dict[str, str | int] = {
            "q": q,
            "start": self.config.start_ns // _NS,
            "end": -(-self.config.end_ns // _NS),  # ceil: the window is never cut short
            "limit": limit,
            "spss": 1,  # a span a trace: its id (and the selected attributes) are all that is read
        }
        resp = self.client.get(SEARCH_PATH, params)
        try:
            doc = json.loads(resp.body)
            traces = doc.get("traces") or []
            found = read(traces)
            jobs = doc.get("metrics") or {}
            done, total = int(jobs.get("completedJobs", 0)), int(jobs.get("totalJobs", 0))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise BackendError(f"{resp.url}: not a Tempo search response ({type(e).__name__}: {e})") from None
        warnings = []
        if len(traces) < limit and done < total:  # not cut by the limit, so some of the search did not run
            warnings.append(
                f"Tempo search for {searched} finished {done} of {total} jobs: "
                f"traces may be missing; try again or narrow the window"
            )
            log.warning("%s", warnings[-1])
        return _Answer(found, warnings, len(traces), limit, resp.url)

    def trace(self, trace_id: str) -> SpanTable | None:
        """One whole trace, or None when Tempo does not have it; AnalyzerError unless the id is 1-32 hex digits."""
        resp = self._get(trace_id)
        return None if resp is None else decode(resp.body, resp.url)

    def _get(self, trace_id: str) -> Response | None:
        """The raw answer for one trace id from the first trace endpoint the server has; None if not found."""
        tid = paths.trace_id(trace_id)  # ids typed by a user too: checked before they go into a URL
        for i in range(self._endpoint or 0, len(TRACE_ENDPOINTS)):
            ep = TRACE_ENDPOINTS[i]
            resp = self.client.get(paths.path(ep.path, id=tid), accept=ep.accept, expect=(200, 404))
            if resp.status == 200:
                with self._lock:
                    self._endpoint = i
                return resp
            if self._endpoint is not None:
                return None  # this endpoint has answered before: the trace is missing, not the endpoint
        return None

    def _searched(self, what: str, n: int) -> str:
        return f"searched {self.name} at {self.url} for {what} between {self.config.window()}: {n} traces"


R = TypeVar("R")  # what is read from one search answer's traces
_TraceRow = tuple[str, str, int, int, "int | None"]  # trace id, exec_id, start, end (ns), spans (if said)


@dataclass(frozen=True)
class _Answer(Generic[R]):
    found: R  # what was read from the traces
    warnings: list[str]
    returned: int  # traces in the answer
    asked: int  # the limit asked for
    url: str


def _trace_ids(traces: list[Any]) -> list[tuple[str, str | None]]:
    """(id as listed, as 32 hex digits or None) of each trace."""
    return [(str(t["traceID"]), ids.normalize(str(t["traceID"]), paths.TRACE_ID_DIGITS)) for t in traces]


def _trace_rows(traces: list[Any]) -> list[_TraceRow]:
    """One row per (trace, exec_id of its listed span): the trace's start and end (Tempo gives its duration in
    whole ms, pkg/traceql/engine.go asTraceSearchMetadata) and its span count (the sum of its serviceStats,
    Tempo 2.5 and later; None before)."""
    rows = []
    for t in traces:
        start = int(t.get("startTimeUnixNano") or 0)
        end = start + int(t.get("durationMs") or 0) * _MS
        stats = t.get("serviceStats")
        spans = sum(int(s.get("spanCount") or 0) for s in stats.values()) if stats is not None else None
        rows += [(str(t["traceID"]), exec_id, start, end, spans) for exec_id in _values(t, semconv.EXEC_ID)]
    return rows


def _workflow_pairs(traces: list[Any]) -> list[tuple[str, str]]:
    """(exec_id, workflow) of each trace's listed span that has both."""
    return [(e, w) for t in traces for e in _values(t, semconv.EXEC_ID) for w in _values(t, semconv.WORKFLOW)]


def _values(trace: Any, key: str) -> list[str]:
    """The string values of attribute `key` on the spans a search listed for `trace` (spanSets, else the
    deprecated spanSet)."""
    sets = trace.get("spanSets") or [trace.get("spanSet") or {}]
    found = {
        str(a["value"]["stringValue"])
        for ss in sets
        for span in ss.get("spans") or ()
        for a in span.get("attributes") or ()
        if a.get("key") == key and "stringValue" in (a.get("value") or {})
    }
    return sorted(found)
