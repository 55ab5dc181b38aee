"""Grafana Tempo: find an execution's traces with TraceQL, then fetch each whole (API v2, else the v1 API).

A trace Tempo could only partly read (v2 ``"status": "PARTIAL"``) is kept, with the decoder's warning.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from analyzer import ids
from analyzer.decode import decode, decode_into
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import AnalyzerError, BackendError, NotFound
from analyzer.source import paths
from analyzer.source.config import RemoteConfig
from analyzer.source.http import HttpClient, Response, fetch_each
from analyzer.source.widen import widen
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = ["ECHO_PATH", "SEARCH_PATH", "TRACE_ENDPOINTS", "TempoSource"]

log = logging.getLogger(__name__)

# Tempo's TraceQL search and health routes.
SEARCH_PATH = "/api/search"
ECHO_PATH = "/api/echo"
_NS = 10**9


@dataclass(frozen=True)
class _TraceEndpoint:
    path: str
    accept: str  # v1 answers OTLP protobuf when asked: the fastest payload to decode


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

    def health(self) -> None:
        """Raise BackendError unless the query frontend answers its echo endpoint."""
        self.client.get(ECHO_PATH, accept="text/plain")

    def execution(self, exec_id: str) -> SpanTable:
        """Every span of every trace holding a span with exec_id = `exec_id` in the window; NotFound if none."""
        trace_ids, warnings = self.search(exec_id)
        if not trace_ids:
            raise NotFound(self._searched(exec_id, 0))
        # Answers are decoded into one set of columns as they arrive, in order: one table is built at the
        # end (building a table per trace costs more than decoding a small round trace).
        cols = Columns(self.name)
        fetched = 0
        answers = fetch_each(trace_ids, self._get, concurrency=self.config.concurrency, what="Tempo traces")
        with gc_paused():
            for tid, resp in zip(trace_ids, answers, strict=True):
                if resp is None:
                    warnings.append(
                        f"trace {tid} was listed by the search but not found at {self.client.base_url}"
                    )
                    continue
                decode_into(resp.body, cols, where=f"{resp.url}: ")
                fetched += 1
            if not fetched:
                raise NotFound(self._searched(exec_id, len(trace_ids)) + ", none of which could be fetched")
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
            exec_id=exec_id,
        )
        return trace_ids, full + incomplete

    def _search(self, exec_id: str, limit: int) -> tuple[tuple[list[str], list[str]], int]:
        """One search: (unique trace ids, a warning if it did not run to the end) and the traces returned."""
        q = f"{{ span.{semconv.EXEC_ID} = {json.dumps(exec_id)} }}"  # a JSON string is a TraceQL string
        params: dict[str, str | int] = {
            "q": q,
            "start": self.config.start_ns // _NS,
            "end": -(-self.config.end_ns // _NS),  # ceil: the window is never cut short
            "limit": limit,
            "spss": 1,  # only the trace ids are read
        }
        resp = self.client.get(SEARCH_PATH, params)
        try:
            doc = json.loads(resp.body)
            traces = doc.get("traces") or []
            found = [
                (str(t["traceID"]), ids.normalize(str(t["traceID"]), paths.TRACE_ID_DIGITS)) for t in traces
            ]
            jobs = doc.get("metrics") or {}
            done, total = int(jobs.get("completedJobs", 0)), int(jobs.get("totalJobs", 0))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise BackendError(f"{resp.url}: not a Tempo search response ({type(e).__name__}: {e})") from None
        warnings = [
            f"{resp.url}: search listed trace id {raw[:40]!r}, not an id of at most 32 hex digits; skipped"
            for raw, tid in found
            if tid is None
        ]
        if len(traces) < limit and done < total:  # not cut by the limit, so some of the search did not run
            warnings.append(
                f"Tempo search for exec_id={exec_id} finished {done} of {total} jobs: "
                f"traces may be missing; try again or narrow the window"
            )
            log.warning("%s", warnings[-1])
        return (list(dict.fromkeys(tid for _, tid in found if tid is not None)), warnings), len(traces)

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

    def _searched(self, exec_id: str, n: int) -> str:
        return (
            f"searched {self.name} at {self.client.base_url} for {semconv.EXEC_ID}={exec_id} "
            f"between {self.config.window()}: {n} traces"
        )
