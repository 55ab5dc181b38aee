"""Loopback backends for the source tests: a real HTTP server on 127.0.0.1 that answers from a route table,
the upstream fixtures, and a canonical form of a span table for equality checks."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer import table as T
from analyzer.results.listing import ExecutionSummary
from analyzer.source.config import RemoteConfig
from analyzer.table import SpanTable
from flyte_otel import semconv

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """The bytes of one upstream payload in ../shared/fixtures."""
    return (FIXTURES / name).read_bytes()


@dataclass
class Request:
    """What the loopback server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""
    tls: bool = False  # arrived over TLS (a Loopback with `tls` speaks both on one port)


@dataclass
class Reply:
    """One canned answer; `truncate_to` cuts the body after that many bytes while announcing all of it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None
    hang: bool = False  # never answer (until the test ends): the client's timeout must fire
    endless: bool = (
        False  # send `body` again and again, no Content-Length (unless in `headers`), until hung up
    )
    drip_s: float = 0.0  # write the response a byte at a time, this long apart (the head too if `drip_head`)
    drip_head: bool = True


ENDLESS_STOP = (
    320 * 2**20
)  # an endless answer stops here (past the 256 MiB default cap): an uncapped client ends


Handler = Callable[[Request], Reply]


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops the SYNs of concurrent fetches: a 1 s stall each
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # With a TLS context, one port speaks both: a connection opening with a TLS handshake record (0x16) is
        # wrapped, any other is plain HTTP. A redirect can then change the scheme and nothing else.
        if self.tls is not None and request.recv(1, socket.MSG_PEEK) == b"\x16":
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)


class Loopback:
    """A ThreadingHTTPServer on 127.0.0.1:0. Routes map a path (or "prefix*") to replies used in turn (the last
    one repeats), or to a function of the request. Unknown paths get Go's router 404 ("404 page not found")."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply] | Handler] = {}
        self.requests: list[Request] = []
        self.sent = 0  # body bytes written by endless and dripping replies
        self.release = threading.Event()
        outer = self

        class _H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.do_GET()

            def do_GET(self) -> None:  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                size = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    parts.path,
                    dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.command,
                    self.rfile.read(size) if size else b"",
                    isinstance(self.connection, ssl.SSLSocket),
                )
                outer.requests.append(req)
                reply = outer._reply(req)
                if reply.hang:
                    outer.release.wait(30)
                    return
                if reply.endless or reply.drip_s:
                    self.close_connection = True
                    with contextlib.suppress(
                        OSError
                    ):  # the client hung up, as a capped or timed-out one does
                        outer._stream(self.wfile, reply)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                body = reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
                self.wfile.write(body)
                if reply.truncate_to is not None:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), _H)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def on(self, path: str, *replies: Reply | Handler) -> None:
        """Answer `path` with these replies in turn, or with a function of the request."""
        if len(replies) == 1 and callable(replies[0]):
            self.routes[path] = replies[0]  # type: ignore[assignment]
        else:
            self.routes[path] = list(replies)  # type: ignore[arg-type]

    @property
    def https_url(self) -> str:
        """https://127.0.0.1:<port> (the same port; needs `tls`)"""
        return self.url.replace("http://", "https://")

    def serve_tls(self, context: ssl.SSLContext) -> None:
        """Speak TLS too, on the same port, to clients that start a handshake."""
        self.httpd.tls = context

    def _stream(self, out: Any, reply: Reply) -> None:
        """Write `reply` endlessly and/or a byte at a time, until done, hung up, or the test ends."""
        lines = [
            f"HTTP/1.1 {reply.status} Status",
            f"Content-Type: {reply.content_type}",
            "Connection: close",
        ]
        if not reply.endless and "Content-Length" not in reply.headers:
            lines.append(f"Content-Length: {len(reply.body)}")
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._write(out, head, reply.drip_s if reply.drip_head else 0.0)
        while not self.release.is_set():
            self._write(out, reply.body, reply.drip_s)
            self.sent += len(reply.body)
            if not reply.endless or self.sent >= ENDLESS_STOP:
                return

    def _write(self, out: Any, data: bytes, drip_s: float) -> None:
        if not drip_s:
            out.write(data)
            return
        for i in range(len(data)):
            if self.release.wait(drip_s):
                return
            out.write(data[i : i + 1])
            out.flush()

    def paths(self) -> list[str]:
        """The paths asked, in order."""
        return [r.path for r in self.requests]

    def _reply(self, req: Request) -> Reply:
        route = self.routes.get(req.path)
        if route is None:  # "prefix*" routes match any path under the prefix
            route = next(
                (r for p, r in self.routes.items() if p.endswith("*") and req.path.startswith(p[:-1])), None
            )
        if route is None:
            return Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if callable(route):
            return route(req)
        return route.pop(0) if len(route) > 1 else route[0]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 and its key, as PEM files in `directory` (needs cryptography)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-fold test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = directory / "cert.pem", directory / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_pem, key_pem


def canon(table: SpanTable) -> pd.DataFrame:
    """The table's rows in a fixed order with plain object columns, for equality between two routes to it."""
    df = table.df.drop(columns=[T.ATTRIBUTES]).astype(object)
    df = df.where(df.notna(), None)
    return df.sort_values([T.TRACE_ID, T.SPAN_ID]).reset_index(drop=True)


def json_bytes(doc: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(doc).encode()


# --- upstream-dialect traces made with the real OpenTelemetry SDK on a virtual clock ----------------------
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
MS = 10**6
HOUR = 3600 * 10**9


def remote_config(url: str, **kw: Any) -> RemoteConfig:
    """A backend at `url` searched from an hour before T0 to an hour after, retried once, quickly."""
    base: dict[str, Any] = {
        "url": url,
        "start_ns": T0 - HOUR,
        "end_ns": T0 + HOUR,
        "retries": 1,
        "backoff_s": 0.001,
    }
    return RemoteConfig(**{**base, **kw})


ROUND_EVERY = 100 * MS  # round_traces' rounds start this far apart, executions one after another
ROUND_LENGTH = 9 * MS  # ... and each lasts this long
ROUND_SPANS = 4  # ... with this many spans, the un-tagged gRPC event among them
WORKFLOW = "wf.chain"  # round_traces' workflow name, unless told otherwise


def round_traces(
    rounds: dict[str, int], *, workflows: dict[str, str | None] | None = None
) -> dict[str, list[Any]]:
    """{exec_id: n} -> {trace id hex: [ReadableSpan]}: each propeller round its own trace (upstream dialect),
    a round holding a streak, a tagged handleNode and an un-tagged gRPC event span (no exec_id). Executions
    follow each other in the order given; `workflows` names an execution's workflow (None: no wf at all)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, set_span_in_context

    from flyte_otel import semconv as sc

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": sc.SERVICE_PROPELLER}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("source-tests")
    t = T0
    for exec_id, n in rounds.items():
        for r in range(n):
            wf = (workflows or {}).get(exec_id, WORKFLOW)
            attrs = {
                sc.EXEC_ID: exec_id,
                sc.NAMESPACE: "flytesnacks-development",
                **({sc.WORKFLOW: wf} if wf else {}),
            }
            root = tracer.start_span(sc.ROUND, attributes=attrs, start_time=t)
            ctx = set_span_in_context(root)
            streak = tracer.start_span(sc.STREAK, context=ctx, attributes=attrs, start_time=t + 1 * MS)
            sctx = set_span_in_context(streak)
            node = tracer.start_span(
                sc.HANDLE_NODE, context=sctx, attributes={**attrs, sc.NODE_ID: f"n{r}"}, start_time=t + 2 * MS
            )
            event = tracer.start_span(
                sc.CREATE_NODE_EVENT,
                context=set_span_in_context(node),
                kind=SpanKind.CLIENT,
                start_time=t + 3 * MS,
            )
            event.end(end_time=t + 5 * MS)
            node.end(end_time=t + 7 * MS)
            streak.end(end_time=t + 8 * MS)
            root.end(end_time=t + ROUND_LENGTH)
            t += ROUND_EVERY
    provider.shutdown()
    out: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(f"{span.context.trace_id:032x}", []).append(span)
    return out


def rounds_listed(
    rounds: dict[str, int], where: str, workflows: dict[str, str | None] | None = None
) -> list[ExecutionSummary]:
    """round_traces' executions as a listing must show them, newest (last) first: known from how they were
    made (one after another from T0, ROUND_EVERY apart, each round ROUND_LENGTH long, ROUND_SPANS spans)."""
    out, t = [], T0
    for exec_id, n in rounds.items():
        end = t + (n - 1) * ROUND_EVERY + ROUND_LENGTH
        wf = (workflows or {}).get(exec_id, WORKFLOW)
        out.append(ExecutionSummary(exec_id, wf, t, end, n * ROUND_SPANS, (where,)))
        t += n * ROUND_EVERY
    return out[::-1]


def otlp_proto(spans: list[Any]) -> bytes:
    """OTLP protobuf (ExportTraceServiceRequest, wire-identical to TracesData) of SDK spans."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(spans).SerializeToString()


def tempo_json(spans: list[Any]) -> dict[str, Any]:
    """Tempo's gogo-jsonpb OTLP (base64 ids, enum names), as protobuf's JSON mapping writes it."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return MessageToDict(encode_spans(spans))


def otlp_hex_json(spans: list[Any]) -> dict[str, Any]:
    """OTLP/JSON per the spec (hex ids, integer enums), the shape of Jaeger api_v3's result."""
    import base64

    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    doc = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in sp:
                        sp[k] = base64.b64decode(sp[k]).hex()
    return doc


class FakeTempo:
    """Tempo's query API over a set of traces: TraceQL search on span.exec_id, v2 (JSON) and v1 (protobuf) by id."""

    _Q = re.compile(r"^\{ span\.exec_id = (\".*\") \}$")

    def __init__(
        self,
        server: Loopback,
        traces: dict[str, list[Any]],
        *,
        v2: bool = True,
        listed: dict[str, Any] | None = None,
    ) -> None:
        self.traces = traces
        self.listed = traces if listed is None else listed  # what the search sees (may hold expired traces)
        server.on("/api/search", self.search)
        server.on("/api/traces/*", self.v1)
        if v2:
            server.on("/api/v2/traces/*", self.v2)
        server.on("/api/echo", Reply(200, b"echo", "text/plain"))

    # `{ span.KEY != nil } | select(span.A, span.B) with (most_recent=true)`: the listing's searches
    _LIST = re.compile(r"^\{ span\.(\w+) != nil \} \| select\(([^)]*)\) with \(most_recent=true\)$")

    def search(self, req: Request) -> Reply:
        if self._LIST.match(req.query["q"]):
            return self.listing(req)
        exec_id = json.loads(self._Q.match(req.query["q"]).group(1))  # type: ignore[union-attr]
        start, end = int(req.query["start"]) * 10**9, int(req.query["end"]) * 10**9
        ids = sorted(
            tid
            for tid, spans in self.listed.items()
            if any(
                s.attributes.get(semconv.EXEC_ID) == exec_id and start <= s.start_time <= end for s in spans
            )
        )
        hits = ids[: int(req.query["limit"])]
        # Tempo strips the leading zeros of the ids it lists
        return Reply(body=json_bytes({"traces": [{"traceID": t.lstrip("0")} for t in hits], "metrics": {}}))

    def listing(self, req: Request) -> Reply:
        """A TraceQL search for traces with a span having KEY, in the shape of Tempo's search answer
        (pkg/tempopb/tempo.proto TraceSearchMetadata): the newest traces first (most_recent), `spss` spans
        of each with the selected attributes, and serviceStats."""
        key, selected = self._LIST.match(req.query["q"]).groups()  # type: ignore[union-attr]
        keys = {key, *(k.strip().removeprefix("span.") for k in selected.split(","))}
        start, end = int(req.query["start"]) * 10**9, int(req.query["end"]) * 10**9
        hits = [
            spans
            for spans in self.listed.values()
            if any(key in s.attributes and start <= s.start_time <= end for s in spans)
        ]
        hits.sort(key=lambda spans: -min(s.start_time for s in spans))
        traces = [self._metadata(spans, key, keys, int(req.query["spss"])) for spans in hits]
        return Reply(body=json_bytes({"traces": traces[: int(req.query["limit"])], "metrics": {}}))

    @staticmethod
    def _metadata(spans: list[Any], key: str, keys: set[str], spss: int) -> dict[str, Any]:
        first, last = min(s.start_time for s in spans), max(s.end_time for s in spans)
        root = min(spans, key=lambda s: s.start_time)
        matched = [s for s in spans if key in s.attributes]
        stats: dict[str, dict[str, int]] = {}
        for s in spans:
            svc = stats.setdefault(s.resource.attributes["service.name"], {"spanCount": 0})
            svc["spanCount"] += 1
        listed = {
            "spans": [
                {
                    "spanID": f"{s.context.span_id:016x}",
                    "startTimeUnixNano": str(s.start_time),
                    "durationNanos": str(s.end_time - s.start_time),
                    "attributes": [
                        {"key": k, "value": {"stringValue": str(v)}}
                        for k, v in s.attributes.items()
                        if k in keys
                    ],
                }
                for s in matched[:spss]
            ],
            "matched": len(matched),
        }
        return {
            "traceID": f"{spans[0].context.trace_id:032x}".lstrip("0"),
            "rootServiceName": root.resource.attributes["service.name"],
            "rootTraceName": root.name,
            "startTimeUnixNano": str(first),
            "durationMs": (last - first) // 10**6,
            "spanSet": listed,
            "spanSets": [listed],
            "serviceStats": stats,
        }

    def v2(self, req: Request) -> Reply:
        spans = self.traces.get(req.path.rsplit("/", 1)[1])
        if spans is None:
            return Reply(404, b"trace not found", "text/plain")
        return Reply(body=json_bytes({"trace": tempo_json(spans)}))

    def v1(self, req: Request) -> Reply:
        spans = self.traces.get(req.path.rsplit("/", 1)[1])
        if spans is None:
            return Reply(404, b"trace not found", "text/plain")
        return Reply(body=otlp_proto(spans), content_type="application/protobuf")


def jaeger_v1_trace(spans: list[Any]) -> dict[str, Any]:
    """One trace of SDK spans as Jaeger's v1 HTTP API writes it (the shape of the upstream fixture
    jaeger_transform_ui_out.jaeger-v1-api.json): µs times, string tags, CHILD_OF references, processes."""
    processes: dict[str, dict[str, Any]] = {}
    out = []
    for s in spans:
        service = s.resource.attributes["service.name"]
        pid = next((p for p, v in processes.items() if v["serviceName"] == service), f"p{len(processes) + 1}")
        processes[pid] = {"serviceName": service, "tags": []}
        tid = f"{s.context.trace_id:032x}"
        out.append({
            "traceID": tid,
            "spanID": f"{s.context.span_id:016x}",
            "operationName": s.name,
            "references": [{"refType": "CHILD_OF", "traceID": tid, "spanID": f"{s.parent.span_id:016x}"}]
            if s.parent
            else [],
            "startTime": s.start_time // 1000,
            "duration": (s.end_time - s.start_time) // 1000,
            "tags": [{"key": k, "type": "string", "value": str(v)} for k, v in s.attributes.items()],
            "logs": [],
            "processID": pid,
            "warnings": None,
        })  # fmt: skip
    return {"traceID": out[0]["traceID"], "spans": out, "processes": processes, "warnings": None}


def jaeger_v1_envelope(*traces: dict[str, Any]) -> bytes:
    """Jaeger's v1 search answer: {data, total, limit, offset, errors}."""
    return json_bytes({"data": list(traces), "total": 0, "limit": 0, "offset": 0, "errors": None})


class FakeJaegerV1:
    """The v1 search of Jaeger 1.x to 2.20 (`/api/traces`): `tags` (when given) filters on the server, else
    every trace is a candidate; at most `limit` traces (the window is not checked)."""

    def __init__(self, server: Loopback, traces: list[dict[str, Any]]) -> None:
        self.traces = traces
        server.on("/api/traces", self.search)

    def search(self, req: Request) -> Reply:
        wanted = json.loads(req.query["tags"]).items() if "tags" in req.query else ()
        hits = [
            t
            for t in self.traces
            if all(any((g["key"], g["value"]) == kv for s in t["spans"] for g in s["tags"]) for kv in wanted)
        ]
        return Reply(body=jaeger_v1_envelope(*hits[: int(req.query["limit"])]))


_ADMIN_ROUTES = {
    "metrics": "/api/v1/metrics/executions/{project}/{domain}/{name}",
    "nodes": "/api/v1/node_executions/{project}/{domain}/{name}",
    "tasks": "/api/v1/task_executions/{project}/{domain}/{name}/",
}


class FakeAdmin:
    """FlyteAdmin's REST gateway for one execution, answering from a metrics tree (core.Span JSON) in flyteidl's
    shapes: GetExecutionMetrics; ListNodeExecutions level by level (`unique_parent_id`) and paged (`limit`,
    `token`); ListTaskExecutions per node (the last attempt SUCCEEDED, earlier ones FAILED). `spec`: unique id
    -> spec id, where it is not what follows `<parent id>-<attempt>-`."""

    def __init__(
        self, execution: dict[str, str], tree: dict[str, Any], spec: dict[str, str] | None = None
    ) -> None:
        self.execution, self.tree = execution, tree
        self.children: dict[str | None, list[dict[str, Any]]] = {}
        self.attempts: dict[str, list[int]] = {}
        self._walk(tree, None, spec or {})

    def _walk(self, span: dict[str, Any], parent: str | None, spec: dict[str, str]) -> None:
        for child in span.get("spans", ()):
            if "node_id" in child:
                uid = child["node_id"]["node_id"]
                local = spec.get(uid) or (
                    uid.split("-", 2)[2] if parent and uid.startswith(parent + "-") else uid
                )
                nested = any("node_id" in c for c in child.get("spans", ()))
                self.children.setdefault(parent, []).append({
                    "id": {"node_id": uid, "execution_id": self.execution},
                    "metadata": {"retry_group": "0", "is_parent_node": nested, "spec_node_id": local},
                    "closure": {"phase": "SUCCEEDED"},
                })  # fmt: skip
                self.attempts[uid] = [
                    c["task_id"]["retry_attempt"] for c in child.get("spans", ()) if "task_id" in c
                ]
                self._walk(child, uid, spec)

    def install(self, server: Loopback) -> None:
        """Answer the three routes on `server`."""
        route = {k: v.format(**self.execution) for k, v in _ADMIN_ROUTES.items()}
        server.on(route["metrics"], Reply(body=json_bytes({"span": self.tree})))
        server.on(route["nodes"], self._nodes)
        server.on(route["tasks"] + "*", self._tasks)

    def _nodes(self, req: Request) -> Reply:
        items = self.children.get(req.query.get("unique_parent_id"), [])
        start, limit = int(req.query.get("token") or 0), int(req.query["limit"])
        token = str(start + limit) if start + limit < len(items) else ""
        return Reply(body=json_bytes({"node_executions": items[start : start + limit], "token": token}))

    def _tasks(self, req: Request) -> Reply:
        uid = urllib.parse.unquote(req.path.rsplit("/", 1)[1])
        attempts = self.attempts.get(uid, [])
        items = [
            {
                "id": {"retry_attempt": a},
                "closure": {"phase": "SUCCEEDED" if a == max(attempts) else "FAILED"},
            }
            for a in attempts
        ]
        return Reply(body=json_bytes({"task_executions": items, "token": ""}))
