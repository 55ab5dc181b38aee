"""Fetching an execution from Tempo: what the transport adds to decoding, and what concurrency buys.

A loopback Tempo (a separate process, so its work does not share our GIL) serves the round traces of one
upstream-dialect execution (each round its own trace). We time, in this process:
  * decode only: the same payloads decoded from memory into one table (the baseline);
  * TempoSource.execution() with 1 fetch at a time and with 8, over API v2 (JSON) and v1 (protobuf).
The server may delay each answer by --latency-ms to stand in for a remote backend's round trip.

    .venv/bin/python benchmarks/bench_fetch.py [--quick] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import re
import time
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

from analyzer.decode import decode, decode_into
from analyzer.decode._columns import Columns, gc_paused
from analyzer.source.config import RemoteConfig
from analyzer.source.tempo import TempoSource
from flyte_otel import semconv as sc

T0 = 1_767_225_600 * 10**9
EXEC = "bench-exec"


def _rounds(n_rounds: int, nodes: int) -> dict[str, tuple[bytes, bytes]]:
    """trace id -> (Tempo v2 JSON, OTLP protobuf) of each round: a round, a streak, `nodes` handleNode spans."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": sc.SERVICE_PROPELLER}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    t = T0
    for _ in range(n_rounds):
        attrs = {sc.EXEC_ID: EXEC}
        root = tracer.start_span(sc.ROUND, attributes=attrs, start_time=t)
        streak = tracer.start_span(
            sc.STREAK, context=set_span_in_context(root), attributes=attrs, start_time=t + 1
        )
        for i in range(nodes):
            s = tracer.start_span(
                sc.HANDLE_NODE,
                context=set_span_in_context(streak),
                attributes={**attrs, sc.NODE_ID: f"n{i}"},
                start_time=t + 2 + i,
            )
            s.end(end_time=t + 3 + i)
        streak.end(end_time=t + nodes + 5)
        root.end(end_time=t + nodes + 6)
        t += 10**8
    provider.shutdown()
    by_trace: dict[str, list[Any]] = {}
    for span in memory.get_finished_spans():
        by_trace.setdefault(f"{span.context.trace_id:032x}", []).append(span)
    out = {}
    for tid, spans in by_trace.items():
        req = encode_spans(spans)
        out[tid] = (json.dumps({"trace": MessageToDict(req)}).encode(), req.SerializeToString())
    return out


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops the SYNs of concurrent clients: a 1 s stall each
    daemon_threads = True


def _serve(payloads: dict[str, tuple[bytes, bytes]], latency_s: float, ready: Any, port: Any) -> None:
    search = json.dumps({"traces": [{"traceID": t} for t in payloads], "metrics": {}}).encode()
    trace_path = re.compile(r"^/api/(v2/)?traces/([0-9a-f]{32})$")

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            if latency_s:
                time.sleep(latency_s)  # a remote backend's round trip, not a timing of ours
            m = trace_path.match(self.path.split("?")[0])
            if self.path.startswith("/api/search"):
                body, ctype = search, "application/json"
            elif m:
                v2, proto = payloads[m.group(2)]
                body, ctype = (v2, "application/json") if m.group(1) else (proto, "application/protobuf")
            else:
                body, ctype = b"404 page not found", "text/plain"
            self.send_response(200 if m or self.path.startswith("/api/search") else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    httpd = _Server(("127.0.0.1", 0), H)
    port.value = httpd.server_address[1]
    ready.set()
    httpd.serve_forever()


def _one_table(bodies: list[bytes]) -> None:
    """What TempoSource does with the answers, minus the network: all decoded into one table."""
    cols = Columns("bench")
    with gc_paused():
        for body in bodies:
            decode_into(body, cols)
        cols.finish()


def _best_of(runs: dict[str, Any], repeat: int) -> dict[str, float]:
    """Best wall time of each run; the runs take turns, so a busy spell of the machine hits them all alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 rounds instead of 400")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="server delay per answer (default 0)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n_rounds, nodes = (40, 48) if args.quick else (400, 48)
    payloads = _rounds(n_rounds, nodes)
    spans = n_rounds * (nodes + 2)

    ctx = multiprocessing.get_context("fork")
    ready, port = ctx.Event(), ctx.Value("i", 0)
    proc = ctx.Process(target=_serve, args=(payloads, args.latency_ms / 1000, ready, port), daemon=True)
    proc.start()
    ready.wait(10)
    url = f"http://127.0.0.1:{port.value}"
    try:
        window = {"start_ns": T0 - 10**12, "end_ns": T0 + 10**12, "limit": 10 * n_rounds}

        def fetch(concurrency: int, v1: bool) -> None:
            src = TempoSource(RemoteConfig(url=url, concurrency=concurrency, **window))
            if v1:
                src._endpoint = 1  # as after a first fallback: skip the v2 probe
            table = src.execution(EXEC)
            assert len(table) == spans, (len(table), spans)

        jsons, pbs = [v2 for v2, _ in payloads.values()], [pb for _, pb in payloads.values()]
        best = _best_of(
            {
                "json": lambda: _one_table(jsons),
                "pb": lambda: _one_table(pbs),
                "per_trace": lambda: [decode(pb) for pb in pbs],
                "v2 JSON, 1 at a time": lambda: fetch(1, False),
                "v2 JSON, 8 at a time": lambda: fetch(8, False),
                "v1 protobuf, 1 at a time": lambda: fetch(1, True),
                "v1 protobuf, 8 at a time": lambda: fetch(8, True),
            },
            args.repeat,
        )
        base_json, base_pb, per_trace = best["json"], best["pb"], best["per_trace"]
        rows = [(name, best[name], base_json if "JSON" in name else base_pb) for name in list(best)[3:]]
    finally:
        proc.terminate()
        proc.join(5)

    print(f"{n_rounds} traces, {spans} spans, server latency {args.latency_ms:g} ms, best of {args.repeat}")
    print(f"  decode only (baseline): JSON {base_json * 1e3:8.1f} ms   protobuf {base_pb * 1e3:8.1f} ms")
    print(
        f"  (a table per trace instead of one: protobuf {per_trace * 1e3:.1f} ms, {per_trace / base_pb:.1f}x)"
    )
    for name, secs, base in rows:
        print(
            f"  {name:26s} {secs * 1e3:8.1f} ms  {spans / secs:10,.0f} spans/s  {secs / base:5.2f}x decode-only"
        )
    print(
        f"  concurrency 8 vs 1: JSON {rows[0][1] / rows[1][1]:.2f}x faster, protobuf {rows[2][1] / rows[3][1]:.2f}x faster"
    )


if __name__ == "__main__":
    main()
