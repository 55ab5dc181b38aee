"""JaegerSource against loopback Jaeger servers: api_v3 HTTP, the v1 HTTP API, and the api_v3 gRPC service."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import pytest
from source_loopback import (
    T0,
    FakeJaegerV1,
    Loopback,
    Reply,
    Request,
    canon,
    fixture_bytes,
    jaeger_v1_envelope,
    json_bytes,
    otlp_hex_json,
    otlp_proto,
    round_traces,
    rounds_listed,
)

from analyzer.decode import decode
from analyzer.errors import AnalyzerError, BackendError, NotFound
from analyzer.source.config import RemoteConfig
from analyzer.source.jaeger import JaegerSource, encode_find_traces, encode_get_trace
from analyzer.table import SpanTable
from flyte_otel import semconv

HOUR = 3600 * 10**9
TOKEN = "jaeger-token-1a2b3c"
NO_TRACES = json_bytes({"error": {"httpCode": 404, "message": "No traces found"}})


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source(url: str, sleeps: Sleeps | None = None, **kw: Any) -> JaegerSource:
    base: dict[str, Any] = {
        "url": url,
        "start_ns": T0 - HOUR,
        "end_ns": T0 + HOUR,
        "retries": 2,
        "backoff_s": 0.001,
    }
    return JaegerSource(RemoteConfig(**{**base, **kw}), sleep=sleeps if sleeps is not None else Sleeps())


def decoded(traces: dict[str, list[Any]], exec_id: str) -> SpanTable:
    mine = [s for s in traces.values() if any(x.attributes.get(semconv.EXEC_ID) == exec_id for x in s)]
    return SpanTable.concat(decode(otlp_proto(s)) for s in mine)


class FakeJaegerV3:
    """api_v3's HTTP gateway: from Jaeger 2.19 it filters on query.attributes; before, with `filters=False`,
    it ignores them and answers the window's newest traces."""

    def __init__(self, server: Loopback, traces: dict[str, list[Any]], *, filters: bool = True) -> None:
        self.traces = traces
        self.filters = filters
        server.on("/api/v3/traces", self.find)
        server.on("/api/v3/traces/*", self.get)

    def find(self, req: Request) -> Reply:
        depth = int(req.query["query.search_depth"])
        wanted = json.loads(req.query.get("query.attributes", "{}")).items() if self.filters else ()
        hits = [t for t, spans in self.traces.items() if all(_has(spans, k, v) for k, v in wanted)]
        ids = sorted(hits)[:depth]
        if not ids:
            return Reply(404, NO_TRACES, "text/plain; charset=utf-8")
        spans = [s for t in ids for s in self.traces[t]]
        return Reply(
            body=json_bytes({"result": otlp_hex_json(spans)}), content_type="text/plain; charset=utf-8"
        )

    def get(self, req: Request) -> Reply:
        spans = self.traces.get(req.path.rsplit("/", 1)[1])
        if spans is None:
            return Reply(404, NO_TRACES, "text/plain; charset=utf-8")
        return Reply(body=json_bytes({"result": otlp_hex_json(spans)}))


def _has(spans: list[Any], key: str, value: str) -> bool:
    return any(s.attributes.get(key) == value for s in spans)


# --- api_v3 over HTTP ------------------------------------------------------------------------------------
def test_v3_search_keeps_only_the_executions_traces_whole(server: Loopback) -> None:
    traces = round_traces({"exec-x": 2, "exec-y": 3})
    FakeJaegerV3(server, traces)
    table = source(server.url).execution("exec-x")
    assert canon(table).equals(canon(decoded(traces, "exec-x")))
    assert len(table) == 8


def test_v3_search_parameters_are_snake_case_with_rfc3339_utc_times(server: Loopback) -> None:
    FakeJaegerV3(server, round_traces({"exec-x": 1}))
    source(server.url, limit=40, service="flytepropeller").execution("exec-x")
    q = server.requests[-1].query  # the search, after auto's probe
    assert q["query.service_name"] == "flytepropeller"
    assert q["query.start_time_min"] == "2025-12-31T23:00:00Z"
    assert q["query.start_time_max"] == "2026-01-01T01:00:00Z"
    assert json.loads(q["query.attributes"]) == {"exec_id": "exec-x"}
    assert q["query.search_depth"] == "40" and q["query.num_traces"] == "40"


def test_v3_no_traces_found_is_an_empty_answer_not_an_error_nor_a_fallback(server: Loopback) -> None:
    FakeJaegerV3(server, {})
    with pytest.raises(NotFound) as e:
        source(server.url).execution("exec-none")
    assert str(e.value) == (
        f"searched Jaeger at {server.url} for exec_id=exec-none (service flytepropeller) between "
        f"2025-12-31T23:00:00Z and 2026-01-01T01:00:00Z: 0 traces"
    )
    assert server.paths() == ["/api/v3/traces", "/api/v3/traces"]  # auto's probe, then the search


def test_v3_get_trace_decodes_like_the_upstream_snapshot(server: Loopback) -> None:
    raw = fixture_bytes("jaeger_apiv3_GetTrace.snapshot.json")
    server.on("/api/v3/traces/*", Reply(body=raw))
    table = source(server.url).trace("ab" * 16)
    assert table is not None and len(table) == 1
    assert canon(table).equals(canon(decode(raw)))


def test_v3_get_trace_not_found_is_none(server: Loopback) -> None:
    FakeJaegerV3(server, {})
    assert source(server.url).trace("cd" * 16) is None


def test_a_full_v3_search_is_asked_again_deeper(server: Loopback) -> None:
    traces = round_traces({"exec-x": 5})
    FakeJaegerV3(server, traces)
    table = source(server.url, limit=2).execution("exec-x")
    assert [r.query["query.search_depth"] for r in server.requests] == ["1", "2", "4", "8"]  # probed once
    assert table.df["trace_id"].nunique() == 5


def test_a_v3_search_full_at_the_max_warns(server: Loopback) -> None:
    FakeJaegerV3(server, round_traces({"exec-x": 5}))
    table = source(server.url, limit=2, max_limit=3).execution("exec-x")
    assert table.df["trace_id"].nunique() == 3
    assert any("returned its limit of 3 traces: there may be more" in w for w in table.warnings)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_hides_the_token(
    server: Loopback, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("/api/v3/traces", Reply(status, b"denied"))
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as e:
        source(server.url, token=TOKEN).execution("exec-x")
    assert "authentication failed" in str(e.value) and TOKEN not in str(e.value) and TOKEN not in caplog.text
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


# --- v1 HTTP API (older servers) ---------------------------------------------------------------------------
V1_FIXTURE = "jaeger_transform_ui_out.jaeger-v1-api.json"
V1_FIXTURE_TRACE = "83a9efd15c1c98a977e0711cc93ee28b"


def _v1_trace(exec_id: str, trace_id: str = V1_FIXTURE_TRACE) -> dict[str, Any]:
    """The upstream Jaeger v1 trace under `trace_id`, with the execution's tag on one span (its other span
    comes along whole)."""
    trace = json.loads(fixture_bytes(V1_FIXTURE).decode().replace(V1_FIXTURE_TRACE, trace_id))["data"][0]
    trace["spans"][0]["tags"].append({"key": "exec_id", "type": "string", "value": exec_id})
    return trace  # type: ignore[no-any-return]


def _v1_with_exec_id(exec_id: str) -> bytes:
    """The upstream Jaeger v1 envelope with the execution's tag on one span."""
    return jaeger_v1_envelope(_v1_trace(exec_id))


def test_without_an_api_v3_route_it_falls_back_to_v1_and_remembers(server: Loopback) -> None:
    body = _v1_with_exec_id("exec-v1")
    server.on("/api/traces", Reply(body=body))
    src = source(server.url)
    first = src.execution("exec-v1")
    src.execution("exec-v1")
    assert canon(first).equals(canon(decode(body)))
    assert len(first) == 2
    assert server.paths() == ["/api/v3/traces", "/api/traces", "/api/traces"]


def test_an_old_jaeger_answering_api_v3_with_its_ui_page_falls_back_to_v1(server: Loopback) -> None:
    # Jaeger 1.x serves index.html (200, text/html) for any route it does not know
    body = _v1_with_exec_id("exec-v1")
    server.on(
        "/api/v3/traces", Reply(200, b"<!doctype html><html>Jaeger UI</html>", "text/html; charset=utf-8")
    )
    server.on("/api/traces", Reply(body=body))
    table = source(server.url).execution("exec-v1")
    assert canon(table).equals(canon(decode(body)))
    assert server.paths() == ["/api/v3/traces", "/api/traces"]


def test_v1_search_parameters(server: Loopback) -> None:
    server.on("/api/traces", Reply(body=_v1_with_exec_id("exec-v1")))
    source(server.url, jaeger_api="v1", limit=30).execution("exec-v1")
    q = server.requests[0].query
    assert server.paths() == ["/api/traces"]  # v1 asked for: no api_v3 probe
    assert q["service"] == "flytepropeller" and json.loads(q["tags"]) == {"exec_id": "exec-v1"}
    assert int(q["start"]) == (T0 - HOUR) // 1000 and int(q["end"]) == (T0 + HOUR) // 1000
    assert q["limit"] == "30"


def test_v1_get_trace_decodes_like_the_upstream_file(server: Loopback) -> None:
    raw = fixture_bytes("jaeger_transform_ui_out.jaeger-v1-api.json")
    server.on("/api/traces/*", Reply(body=raw))
    table = source(server.url, jaeger_api="v1").trace("ef" * 16)
    assert table is not None and canon(table).equals(canon(decode(raw)))


def test_v1_search_without_the_execution_is_not_found(server: Loopback) -> None:
    server.on("/api/traces", Reply(body=jaeger_v1_envelope()))
    with pytest.raises(NotFound, match="0 traces"):
        source(server.url, jaeger_api="v1").execution("exec-v1")


# --- auto: a search Jaeger filters by exec_id itself ------------------------------------------------------
PROBE = {"exec_id": "otel-fold probe: no such execution"}


def _asked(req: Request) -> tuple[str, dict[str, str], str]:
    """(path, the filter, the depth) of one search, whichever API it went to."""
    if req.path == "/api/traces":
        return req.path, json.loads(req.query["tags"]), req.query["limit"]
    return req.path, json.loads(req.query["query.attributes"]), req.query["query.search_depth"]


def test_auto_uses_api_v3_over_http_where_a_probe_shows_it_filters(server: Loopback) -> None:
    traces = round_traces({"exec-x": 2, "exec-y": 3})
    FakeJaegerV3(server, traces)  # Jaeger 2.19 or later
    FakeJaegerV1(server, [_v1_trace("exec-x")])
    src = source(server.url, limit=2)
    table = src.execution("exec-x")
    src.execution("exec-x")
    assert [_asked(r) for r in server.requests] == [
        ("/api/v3/traces", PROBE, "1"),  # finds nothing: this server filters
        ("/api/v3/traces", {"exec_id": "exec-x"}, "2"),
        ("/api/v3/traces", {"exec_id": "exec-x"}, "4"),  # came back full: asked deeper, not probed again
        ("/api/v3/traces", {"exec_id": "exec-x"}, "2"),
        ("/api/v3/traces", {"exec_id": "exec-x"}, "4"),
    ]
    assert canon(table).equals(canon(decoded(traces, "exec-x")))
    assert table.warnings == []


def test_auto_searches_v1_tags_where_api_v3_over_http_ignores_attributes(server: Loopback) -> None:
    FakeJaegerV3(server, round_traces({"exec-y": 3}), filters=False)  # Jaeger before 2.19
    mine = _v1_trace("exec-x", "ab" * 16)
    FakeJaegerV1(server, [mine, _v1_trace("exec-y", "cd" * 16)])
    table = source(server.url, limit=20).execution("exec-x")
    assert [_asked(r) for r in server.requests] == [
        ("/api/v3/traces", PROBE, "1"),  # answers a trace: this server does not filter
        ("/api/traces", {"exec_id": "exec-x"}, "20"),
    ]
    assert canon(table).equals(canon(decode(jaeger_v1_envelope(mine))))
    assert table.warnings == []


@pytest.mark.parametrize("api", ["auto", "v3"])
def test_without_a_filtering_search_it_filters_here_and_warns_once_with_the_count(
    server: Loopback, api: str
) -> None:
    traces = round_traces({"exec-x": 2, "exec-y": 3})
    FakeJaegerV3(server, traces, filters=False)  # and no v1 route: nothing filters on the server
    table = source(server.url, limit=2, jaeger_api=api).execution("exec-x")
    searches = [_asked(r) for r in server.requests if r.path == "/api/v3/traces"]
    assert searches[-3:] == [("/api/v3/traces", {"exec_id": "exec-x"}, d) for d in ("2", "4", "8")]
    assert canon(table).equals(canon(decoded(traces, "exec-x")))
    assert table.warnings == [
        f"Jaeger at {server.url} did not filter on exec_id: 5 traces of service flytepropeller were "
        "downloaded and scanned here to keep 2; api_v3 over HTTP ignores query.attributes before Jaeger "
        "2.19; use a grpc:// URL, --jaeger-api v1 or Jaeger 2.19 or later, or narrow the window"
    ]


def test_not_found_after_filtering_here_says_how_many_traces_were_scanned(server: Loopback) -> None:
    FakeJaegerV3(server, round_traces({"exec-y": 3}), filters=False)
    with pytest.raises(NotFound) as e:
        source(server.url).execution("exec-x")
    assert str(e.value).endswith(
        ": 0 traces (3 other traces scanned: api_v3 over HTTP ignores query.attributes before Jaeger 2.19; "
        "use a grpc:// URL, --jaeger-api v1 or Jaeger 2.19 or later, or narrow the window)"
    )


def test_an_unknown_api_choice_is_refused() -> None:
    with pytest.raises(Exception, match="--jaeger-api must be one of"):
        source("http://127.0.0.1:1", jaeger_api="v9")


# --- api_v3 over gRPC --------------------------------------------------------------------------------------
def _request_classes() -> tuple[Any, Any]:
    """FindTracesRequest and GetTraceRequest as dynamic messages built from jaeger-idl's field list: an
    independent reading of the bytes the source encodes by hand."""
    from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory, timestamp_pb2

    pool = descriptor_pool.DescriptorPool()
    for dep in (timestamp_pb2, duration_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dep.DESCRIPTOR.serialized_pb))
    f = descriptor_pb2.FileDescriptorProto(name="api_v3_test.proto", package="jaeger.api_v3", syntax="proto3")
    f.dependency.extend(["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"])
    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED

    def msg(name: str, *fields: tuple[str, int, int, str, int]) -> descriptor_pb2.DescriptorProto:
        m = f.message_type.add(name=name)
        for fname, num, ftype, tname, label in fields:
            fd = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                fd.type_name = tname
        return m

    q = msg(
        "TraceQueryParameters",
        ("service_name", 1, F.TYPE_STRING, "", opt),
        ("operation_name", 2, F.TYPE_STRING, "", opt),
        ("attributes", 3, F.TYPE_MESSAGE, ".jaeger.api_v3.TraceQueryParameters.AttributesEntry", rep),
        ("start_time_min", 4, F.TYPE_MESSAGE, ".google.protobuf.Timestamp", opt),
        ("start_time_max", 5, F.TYPE_MESSAGE, ".google.protobuf.Timestamp", opt),
        ("duration_min", 6, F.TYPE_MESSAGE, ".google.protobuf.Duration", opt),
        ("duration_max", 7, F.TYPE_MESSAGE, ".google.protobuf.Duration", opt),
        ("search_depth", 8, F.TYPE_INT32, "", opt),
        ("raw_traces", 9, F.TYPE_BOOL, "", opt),
    )
    entry = q.nested_type.add(name="AttributesEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=opt)
    msg("FindTracesRequest", ("query", 1, F.TYPE_MESSAGE, ".jaeger.api_v3.TraceQueryParameters", opt))
    msg(
        "GetTraceRequest",
        ("trace_id", 1, F.TYPE_STRING, "", opt),
        ("start_time", 2, F.TYPE_MESSAGE, ".google.protobuf.Timestamp", opt),
        ("end_time", 3, F.TYPE_MESSAGE, ".google.protobuf.Timestamp", opt),
        ("raw_traces", 4, F.TYPE_BOOL, "", opt),
    )
    pool.Add(f)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("jaeger.api_v3.FindTracesRequest")), get(
        pool.FindMessageTypeByName("jaeger.api_v3.GetTraceRequest")
    )


FindTracesRequest, GetTraceRequest = _request_classes()


def test_find_traces_request_encodes_every_field_as_jaeger_idl_declares() -> None:
    raw = encode_find_traces("flytepropeller", {"exec_id": "x-1", "wf": "w"}, T0 + 123, T0 + HOUR + 5, 77)
    req = FindTracesRequest.FromString(raw)
    assert req.query.service_name == "flytepropeller"
    assert dict(req.query.attributes) == {"exec_id": "x-1", "wf": "w"}
    assert (req.query.start_time_min.seconds, req.query.start_time_min.nanos) == (T0 // 10**9, 123)
    assert (req.query.start_time_max.seconds, req.query.start_time_max.nanos) == ((T0 + HOUR) // 10**9, 5)
    assert req.query.search_depth == 77


def test_get_trace_request_carries_the_hex_id() -> None:
    assert GetTraceRequest.FromString(encode_get_trace("ab" * 16)).trace_id == "ab" * 16


class FakeJaegerGrpc:
    """jaeger.api_v3.QueryService answering TracesData chunks, one per trace, over raw bytes."""

    def __init__(self, traces: dict[str, list[Any]]) -> None:
        import grpc

        self.grpc = grpc
        self.traces = traces
        self.requests: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self.fail: list[Any] = []  # status codes to answer first, in turn
        self.endless = False  # FindTraces repeats its traces until the client hangs up
        handler = grpc.method_handlers_generic_handler(
            "jaeger.api_v3.QueryService",
            {
                "FindTraces": grpc.unary_stream_rpc_method_handler(self.find_traces),
                "GetTrace": grpc.unary_stream_rpc_method_handler(self.get_trace),
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def _begin(self, raw: bytes, cls: Any, context: Any) -> Any:
        req = cls.FromString(raw)
        self.requests.append(req)
        self.metadata.append(dict(context.invocation_metadata()))
        if self.fail:
            context.abort(self.fail.pop(0), "not now")
        return req

    def find_traces(self, raw: bytes, context: Any) -> Iterator[bytes]:
        req = self._begin(raw, FindTracesRequest, context)
        ids = sorted(self.traces)[: req.query.search_depth]
        if not ids:
            context.abort(self.grpc.StatusCode.NOT_FOUND, "trace not found")
        for tid in ids:
            yield otlp_proto(self.traces[tid])
        while self.endless and context.is_active():
            yield otlp_proto(self.traces[ids[0]])

    def get_trace(self, raw: bytes, context: Any) -> Iterator[bytes]:
        req = self._begin(raw, GetTraceRequest, context)
        if req.trace_id not in self.traces:
            context.abort(self.grpc.StatusCode.NOT_FOUND, "trace not found")
        yield otlp_proto(self.traces[req.trace_id])


@pytest.fixture
def grpc_jaeger() -> Iterator[FakeJaegerGrpc]:
    pytest.importorskip("grpc")
    fake = FakeJaegerGrpc({})
    try:
        yield fake
    finally:
        fake.server.stop(None)


def test_grpc_find_traces_streams_the_executions_traces(grpc_jaeger: FakeJaegerGrpc) -> None:
    traces = round_traces({"exec-g": 3, "exec-h": 1})
    grpc_jaeger.traces = traces
    table = source(grpc_jaeger.url, token=TOKEN).execution("exec-g")
    assert canon(table).equals(canon(decoded(traces, "exec-g")))
    req = grpc_jaeger.requests[0]
    assert req.query.service_name == "flytepropeller" and dict(req.query.attributes) == {"exec_id": "exec-g"}
    assert req.query.start_time_min.seconds == (T0 - HOUR) // 10**9
    assert grpc_jaeger.metadata[0]["authorization"] == f"Bearer {TOKEN}"


def test_grpc_get_trace_and_not_found(grpc_jaeger: FakeJaegerGrpc) -> None:
    traces = round_traces({"exec-g": 1})
    grpc_jaeger.traces = traces
    tid = next(iter(traces))
    src = source(grpc_jaeger.url)
    table = src.trace(tid)
    assert table is not None and canon(table).equals(canon(decode(otlp_proto(traces[tid]))))
    assert src.trace("00" * 15 + "01") is None


def test_grpc_not_found_search_is_not_found(grpc_jaeger: FakeJaegerGrpc) -> None:
    with pytest.raises(NotFound, match="0 traces"):
        source(grpc_jaeger.url).execution("exec-none")


def test_grpc_unavailable_is_retried(grpc_jaeger: FakeJaegerGrpc) -> None:
    grpc_jaeger.traces = round_traces({"exec-g": 1})
    grpc_jaeger.fail = [grpc_jaeger.grpc.StatusCode.UNAVAILABLE]
    sleeps = Sleeps()
    assert len(source(grpc_jaeger.url, sleeps).execution("exec-g")) == 4
    assert len(sleeps) == 1 and len(grpc_jaeger.requests) == 2


def test_grpc_unauthenticated_is_clear_and_hides_the_token(
    grpc_jaeger: FakeJaegerGrpc, caplog: pytest.LogCaptureFixture
) -> None:
    grpc_jaeger.fail = [grpc_jaeger.grpc.StatusCode.UNAUTHENTICATED]
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as e:
        source(grpc_jaeger.url, token=TOKEN).execution("exec-g")
    assert "authentication failed" in str(e.value) and "UNAUTHENTICATED" in str(e.value)
    assert TOKEN not in str(e.value) and TOKEN not in caplog.text
    assert len(grpc_jaeger.requests) == 1


def test_grpc_refused_connection_is_a_backend_error(refused_url: str) -> None:
    url = refused_url.replace("http://", "grpc://")
    with pytest.raises(BackendError, match="UNAVAILABLE"):
        source(url, timeout_s=2.0).execution("exec-g")


# --- hostile ids and answers -------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["auto", "v3", "v1"])
@pytest.mark.parametrize("typed", ["../../admin", "ab/cd", "ab%2fcd", "a" * 33, ""])
def test_a_trace_id_typed_by_the_user_is_checked_before_any_request(
    server: Loopback, api: str, typed: str
) -> None:
    with pytest.raises(AnalyzerError, match=r"^bad trace id .*: expected 1 to 32 hex digits$"):
        source(server.url, jaeger_api=api).trace(typed)
    assert server.requests == []


def test_a_short_trace_id_is_asked_for_with_32_digits(server: Loopback) -> None:
    server.on("/api/traces/*", Reply(404, b"{}"))
    assert source(server.url, jaeger_api="v1").trace("1F") is None
    assert server.paths() == ["/api/traces/" + "0" * 30 + "1f"]


def test_grpc_get_trace_of_a_hostile_id_is_refused(grpc_jaeger: FakeJaegerGrpc) -> None:
    with pytest.raises(AnalyzerError, match="bad trace id"):
        source(grpc_jaeger.url).trace("../x")
    assert grpc_jaeger.requests == []


@pytest.mark.timeout(60)
def test_grpc_an_endless_stream_ends_at_the_answer_cap(grpc_jaeger: FakeJaegerGrpc) -> None:
    grpc_jaeger.traces = round_traces({"exec-g": 1})
    grpc_jaeger.endless = True
    with pytest.raises(BackendError) as e:
        source(grpc_jaeger.url, retries=0, timeout_s=30.0, max_answer_mib=1).execution("exec-g")
    assert str(e.value).startswith(f"the answer from {grpc_jaeger.url}/jaeger.api_v3.QueryService/FindTraces")
    assert "is larger than the 1 MiB cap (--max-answer-mib)" in str(e.value)


# --- listing: the same searches without the exec_id filter ------------------------------------------------
LISTED = {"exec-a": 2, "exec-b": 1}


def test_auto_lists_over_api_v3_http_without_attributes_after_the_probe(server: Loopback) -> None:
    FakeJaegerV3(server, round_traces(LISTED))  # Jaeger 2.19 or later: the stack's 2.20
    assert source(server.url).executions() == rounds_listed(LISTED, server.url)
    probe, search = server.requests
    assert json.loads(probe.query["query.attributes"]) == PROBE
    assert "query.attributes" not in search.query and search.query["query.service_name"] == "flytepropeller"


def test_grpc_lists_with_find_traces_without_attributes(grpc_jaeger: FakeJaegerGrpc) -> None:
    grpc_jaeger.traces = round_traces(LISTED)
    assert source(grpc_jaeger.url).executions() == rounds_listed(LISTED, grpc_jaeger.url)
    assert [dict(r.query.attributes) for r in grpc_jaeger.requests] == [{}]
