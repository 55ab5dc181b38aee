"""Jaeger: an execution's traces from the api_v3 HTTP gateway, the v1 HTTP API, or the api_v3 gRPC QueryService.

A ``grpc://`` or ``grpcs://`` URL selects gRPC. Otherwise ``--jaeger-api auto`` wants a search that Jaeger
filters by exec_id itself: api_v3 over HTTP ignores ``query.attributes`` before Jaeger 2.19, so it is used
only after a probe for an exec_id no span has comes back empty; else the v1 API, whose ``tags`` every
version honours; else (a server with neither) api_v3 unfiltered. FindTraces answers whole traces, so one
search is the whole fetch. The answer is always narrowed here to the traces that hold a span with
exec_id = X (`analyzer.execution.select_execution`), and a server that sent other traces is reported. The
listing of executions is the same search without the exec_id filter, its traces grouped by exec_id.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from analyzer import table as T
from analyzer.decode import decode, decode_into
from analyzer.decode._columns import Columns, gc_paused
from analyzer.errors import AnalyzerError, BackendError, NotFound
from analyzer.execution import select_execution
from analyzer.protowire import encode_varint
from analyzer.results.listing import ExecutionSummary
from analyzer.source import paths
from analyzer.source.config import RemoteConfig, rfc3339
from analyzer.source.http import HttpClient, Response, answer_too_large, backoff_delay
from analyzer.source.widen import widen
from analyzer.table import SpanTable
from flyte_otel import semconv

__all__ = [
    "GRPC_SCHEMES",
    "GRPC_SERVICE",
    "TRACE_PAGE",
    "V1_TRACES",
    "V3_TRACES",
    "JaegerSource",
    "encode_find_traces",
    "encode_get_trace",
]

log = logging.getLogger(__name__)

# Jaeger's query routes (api_v3 HTTP, v1 HTTP, api_v3 gRPC) and the URL schemes that select gRPC.
V3_TRACES = "/api/v3/traces"
V1_TRACES = "/api/traces"
GRPC_SERVICE = "/jaeger.api_v3.QueryService/"
GRPC_SCHEMES = ("grpc", "grpcs")
# Jaeger UI's trace page, its span picked out by uiFind (an exact span id matches: jaegertracing/jaeger-ui v2.20.0,
# the UI of jaeger v2.20.0, packages/jaeger-ui/src/components/TracePage/url/index.ts:10-16 and
# src/utils/filter-spans.ts:81). The UI is served where the HTTP query API is.
TRACE_PAGE = "/trace/{trace_id}?uiFind={span_id}"
_US = 1000


class JaegerSource:
    """An execution's traces from Jaeger."""

    name = "Jaeger"

    def __init__(
        self,
        config: RemoteConfig,
        *,
        client: HttpClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.url:
            raise AnalyzerError(
                "the jaeger backend needs --url (or OTEL_FOLD_URL), e.g. http://localhost:16686"
            )
        if config.jaeger_api not in _APIS_BY_CHOICE:
            raise AnalyzerError(
                f"--jaeger-api must be one of {', '.join(_APIS_BY_CHOICE)}, not {config.jaeger_api!r}"
            )
        self.config = config
        scheme = urllib.parse.urlsplit(config.url).scheme
        self._grpc = _GrpcQuery(config, sleep) if scheme in GRPC_SCHEMES else None
        self.client = None if self._grpc else (client or HttpClient(config.url, config.http(), sleep=sleep))
        self._apis: tuple[str, ...] = ("grpc",) if self._grpc else _APIS_BY_CHOICE[config.jaeger_api]

    @property
    def url(self) -> str:
        """The backend's base URL (for messages)."""
        return self.config.url or ""

    def trace_link(self) -> str | None:
        """The template of a span's URL in the Jaeger UI ({trace_id}, {span_id}); None over gRPC (no UI there)."""
        return None if self._grpc else paths.link_template(self.url, TRACE_PAGE)

    def execution(self, exec_id: str) -> SpanTable:
        """Every span of every trace holding a span with exec_id = `exec_id` in the window; NotFound if none."""
        found, warnings = widen(
            lambda depth: self._counted({semconv.EXEC_ID: exec_id}, depth),
            limit=self.config.limit,
            max_limit=self.config.max_limit,
            backend=self.name,
            searched=f"{semconv.EXEC_ID}={exec_id}",
        )
        scanned = found.df[T.TRACE_ID].nunique()
        try:
            table = select_execution(found, exec_id, self.url)
        except NotFound:
            unfiltered = f" ({scanned} other traces scanned: {_UNFILTERED_HINT})" if scanned else ""
            raise NotFound(
                f"searched {self.name} at {self.url} for {semconv.EXEC_ID}={exec_id} "
                f"(service {self.config.service}) between {self.config.window()}: 0 traces{unfiltered}"
            ) from None
        kept = table.df[T.TRACE_ID].nunique()
        if kept < scanned:  # a server that filters sends only traces holding exec_id = X
            warnings.append(
                f"{self.name} at {self.url} did not filter on {semconv.EXEC_ID}: {scanned} traces of service "
                f"{self.config.service} were downloaded and scanned here to keep {kept}; "
                f"{_UNFILTERED_HINT}"
            )
        table.warnings[:0] = warnings
        return table

    def trace(self, trace_id: str) -> SpanTable | None:
        """One whole trace by id, or None when Jaeger does not have it; AnalyzerError unless the id is 1-32 hex
        digits (sent as 32)."""
        tid = paths.trace_id(trace_id)
        for api in self._apis:  # v1 answers 200 or 404, so auto's last api_v3 is never asked again
            got = _GETTERS[api](self, tid)
            if got is not _TRY_NEXT:
                return got  # type: ignore[return-value]
        return None

    def executions(self) -> list[ExecutionSummary]:
        """Every execution in the window's traces of the service, newest first; NotFound if none. Jaeger answers
        whole traces, so this reads them all (as many as --limit / --max-limit let it)."""
        found, _ = widen(  # its warning is logged
            lambda depth: self._counted({}, depth),
            limit=self.config.limit,
            max_limit=self.config.max_limit,
            backend=self.name,
            searched=f"traces of service {self.config.service}",
        )
        from analyzer.source import listing  # pandas: only listings need it

        executions = listing.summaries(found, self.url)
        if not executions:
            raise NotFound(
                f"searched {self.name} at {self.url} for traces of service {self.config.service} between "
                f"{self.config.window()}: {found.df[T.TRACE_ID].nunique()} traces, no span with an {semconv.EXEC_ID}"
            )
        return executions

    def _counted(self, attributes: dict[str, str], depth: int) -> tuple[SpanTable, int]:
        """One search (for traces with these attributes; {}: any) and the number of traces it returned."""
        found = self._find(attributes, depth)
        return found, found.df[T.TRACE_ID].nunique()

    def _find(self, attributes: dict[str, str], depth: int) -> SpanTable:
        for api in self._apis:
            got = _FINDERS[api](self, attributes, depth)
            if got is not _TRY_NEXT:
                if api != self._apis[0]:
                    log.info("Jaeger at %s: using the %s API", self.url, api)
                self._apis = (_PROBED.get(api, api),)  # remembered for the next search, probe and all
                return got  # type: ignore[return-value]
        raise BackendError(f"{self.url} answers none of the Jaeger query APIs ({', '.join(self._apis)})")

    # --- api_v3 over HTTP (grpc-gateway); parameter names in the snake_case every version accepts --------
    def _find_v3(self, attributes: dict[str, str], depth: int) -> SpanTable | object:
        params: dict[str, str | int] = {
            "query.service_name": self.config.service,
            "query.start_time_min": rfc3339(self.config.start_ns),
            "query.start_time_max": rfc3339(self.config.end_ns),
            **({"query.attributes": json.dumps(attributes)} if attributes else {}),
            "query.search_depth": depth,
            "query.num_traces": depth,  # the name before search_depth, for older servers
        }
        return self._v3(V3_TRACES, params)

    def _find_v3_if_filtering(self, attributes: dict[str, str], depth: int) -> SpanTable | object:
        """api_v3 over HTTP if it filters on attributes: a search for an exec_id no span has finds nothing."""
        probe = self._find_v3({semconv.EXEC_ID: _PROBE_EXEC_ID}, 1)
        if isinstance(probe, SpanTable) and len(probe):
            log.info("Jaeger at %s ignores query.attributes on api_v3 over HTTP (before 2.19)", self.url)
            return _TRY_NEXT
        return probe if probe is _TRY_NEXT else self._find_v3(attributes, depth)

    def _get_v3(self, trace_id: str) -> SpanTable | None | object:
        return self._v3(paths.path(V3_TRACES + "/{id}", id=trace_id), None, none_if_empty=True)

    def _v3(self, path: str, params: dict[str, str | int] | None, *, none_if_empty: bool = False) -> object:
        assert self.client is not None
        resp = self.client.get(path, params, expect=(200, 404), reject_types=())
        if resp.content_type == "text/html":
            return _TRY_NEXT  # Jaeger 1.x answers unknown routes with its UI's index.html
        if resp.status == 200:
            return decode(resp.body, resp.url)
        if not _is_gateway_error(resp):
            return _TRY_NEXT  # a 404 from the router, not from the query service
        return None if none_if_empty else SpanTable.empty()  # "No traces found" is an empty answer

    # --- v1 HTTP API (the UI's) ---------------------------------------------------------------------------
    def _find_v1(self, attributes: dict[str, str], depth: int) -> SpanTable | object:
        assert self.client is not None
        params: dict[str, str | int] = {
            "service": self.config.service,
            **({"tags": json.dumps(attributes)} if attributes else {}),
            "start": self.config.start_ns // _US,
            "end": -(-self.config.end_ns // _US),
            "limit": depth,
        }
        resp = self.client.get(V1_TRACES, params, expect=(200, 404))
        return decode(resp.body, resp.url) if resp.status == 200 else _TRY_NEXT

    def _get_v1(self, trace_id: str) -> SpanTable | None:
        assert self.client is not None
        resp = self.client.get(paths.path(V1_TRACES + "/{id}", id=trace_id), expect=(200, 404))
        return decode(resp.body, resp.url) if resp.status == 200 else None

    # --- api_v3 over gRPC -----------------------------------------------------------------------------------
    def _find_grpc(self, attributes: dict[str, str], depth: int) -> SpanTable:
        assert self._grpc is not None
        request = encode_find_traces(
            self.config.service, attributes, self.config.start_ns, self.config.end_ns, depth
        )
        return self._grpc.call("FindTraces", request) or SpanTable.empty()

    def _get_grpc(self, trace_id: str) -> SpanTable | None:
        assert self._grpc is not None
        return self._grpc.call("GetTrace", encode_get_trace(trace_id))


_TRY_NEXT = object()  # the server has no such route, or it does not filter: try the next API
# --jaeger-api -> the APIs tried in turn until one answers. auto puts first those that Jaeger filters by
# exec_id (api_v3 over HTTP only where the probe shows it does; v1 `tags` everywhere), api_v3 unfiltered last.
_APIS_BY_CHOICE: dict[str, tuple[str, ...]] = {
    "auto": ("v3-filtering", "v1", "v3"),
    "v3": ("v3",),
    "v1": ("v1",),
}
# What a user can do when Jaeger sent traces without exec_id = X (docs/deploy.md lists the versions).
_UNFILTERED_HINT = (
    "api_v3 over HTTP ignores query.attributes before Jaeger 2.19; use a grpc:// URL, --jaeger-api v1 "
    "or Jaeger 2.19 or later, or narrow the window"
)
_PROBED = {"v3-filtering": "v3"}  # an API that passed its probe, as remembered: not probed again
# A Flyte exec_id is a Kubernetes object name (lower-case letters, digits, '-', '.'): no span has this one.
_PROBE_EXEC_ID = "otel-fold probe: no such execution"
_FINDERS: dict[str, Callable[[JaegerSource, dict[str, str], int], object]] = {
    "v3-filtering": JaegerSource._find_v3_if_filtering,
    "v3": JaegerSource._find_v3,
    "v1": JaegerSource._find_v1,
    "grpc": JaegerSource._find_grpc,
}
_GETTERS: dict[str, Callable[[JaegerSource, str], object]] = {
    "v3-filtering": JaegerSource._get_v3,
    "v3": JaegerSource._get_v3,
    "v1": JaegerSource._get_v1,
    "grpc": JaegerSource._get_grpc,
}


def _is_gateway_error(resp: Response) -> bool:
    """True for api_v3's own error body ({"error": {"httpCode": 404, "message": "No traces found"}})."""
    try:
        return isinstance(json.loads(resp.body).get("error"), dict)
    except (ValueError, AttributeError):
        return False


# --- the gRPC QueryService, called without compiled Jaeger protos ---------------------------------------
class _GrpcQuery:
    """Unary-stream calls whose requests are encoded here and whose answers are OTLP TracesData chunks."""

    _RETRY_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED")
    _AUTH_CODES = ("UNAUTHENTICATED", "PERMISSION_DENIED")

    def __init__(self, config: RemoteConfig, sleep: Callable[[float], None]) -> None:
        parts = urllib.parse.urlsplit(config.url or "")
        if not parts.netloc:
            raise AnalyzerError(
                f"bad backend URL {config.url!r}: expected grpc://host:port or grpcs://host:port"
            )
        self.target = parts.netloc
        self.tls = parts.scheme == "grpcs"
        self.config = config
        self.http = config.http()
        self._sleep = sleep
        self.metadata = tuple((k.lower(), v) for k, v in self.http.headers.items())

    def call(self, method: str, request: bytes) -> SpanTable | None:
        """The decoded stream of `method`, or None when the server says NOT_FOUND."""
        import grpc  # late: only gRPC users pay for the import

        where = f"grpc{'s' if self.tls else ''}://{self.target}{GRPC_SERVICE}{method}"
        attempts = self.http.retries + 1
        for attempt in range(1, attempts + 1):
            channel = self._channel(grpc)
            try:
                stream = channel.unary_stream(GRPC_SERVICE + method)(
                    request, timeout=self.http.timeout_s, metadata=self.metadata
                )
                cols, n, size = Columns(where), 0, 0  # the stream's TracesData chunks, decoded into one table
                with gc_paused():
                    for n, chunk in enumerate(stream, 1):
                        size += len(chunk)
                        if size > self.http.max_bytes:
                            stream.cancel()
                            raise answer_too_large(where, self.http.max_bytes)
                        decode_into(chunk, cols, where=f"chunk {n}: ")
                    return cols.finish() if n else None
            except grpc.RpcError as e:
                code = e.code().name if e.code() else "UNKNOWN"
                details = _redact(self.http.secrets, e.details() or "")
                if code == "NOT_FOUND":
                    return None
                if code in self._AUTH_CODES:
                    raise BackendError(
                        f"authentication failed at {where} (gRPC {code}): check the credentials "
                        f"(OTEL_FOLD_TOKEN / OTEL_FOLD_TOKEN_FILE)"
                    ) from None
                if code in self._RETRY_CODES and attempt < attempts:
                    delay = backoff_delay(self.http, attempt)
                    log.info("gRPC %s from %s; retrying in %.2fs", code, where, delay)
                    self._sleep(delay)
                    continue
                raise BackendError(f"gRPC {code} from {where}: {details}") from None
            finally:
                channel.close()
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _channel(self, grpc: Any) -> Any:
        if not self.tls:
            return grpc.insecure_channel(self.target)
        roots = Path(self.http.ca_file).read_bytes() if self.http.ca_file else None
        return grpc.secure_channel(self.target, grpc.ssl_channel_credentials(root_certificates=roots))


def _redact(secrets: Iterable[str], text: str) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


# --- protobuf wire format of the two requests (jaeger-idl proto/api_v3/query_service.proto) --------------
def encode_find_traces(
    service: str, attributes: dict[str, str], start_ns: int, end_ns: int, search_depth: int
) -> bytes:
    """FindTracesRequest{query: TraceQueryParameters{service_name=1, attributes=3, start_time_min=4, start_time_max=5, search_depth=8}}."""
    query = _len_field(1, service.encode())
    for k, v in attributes.items():  # map<string,string>: repeated entries {key=1, value=2}
        query += _len_field(3, _len_field(1, k.encode()) + _len_field(2, v.encode()))
    query += _len_field(4, _timestamp(start_ns)) + _len_field(5, _timestamp(end_ns))
    query += _varint_field(8, search_depth)
    return _len_field(1, query)


def encode_get_trace(trace_id: str) -> bytes:
    """GetTraceRequest{trace_id=1 (hex string)}."""
    return _len_field(1, trace_id.encode())


def _timestamp(ns: int) -> bytes:
    seconds, nanos = divmod(ns, 10**9)  # google.protobuf.Timestamp{seconds=1, nanos=2}
    return _varint_field(1, seconds) + (_varint_field(2, nanos) if nanos else b"")


def _varint_field(number: int, value: int) -> bytes:
    return encode_varint(number << 3) + encode_varint(value)


def _len_field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload
