"""Fixtures for the receiver tests: a receiver on free loopback ports, and reading a store back."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import StoreSink
from analyzer.framing import Truncated, iter_records

TOKEN = "s3cret"
MAX_BYTES = 1024 * 1024
# stop() waits for the HTTP serving loop's next poll: production's 0.5 s, paid by every test, adds up.
POLL_INTERVAL_S = 0.02


def binpb_records(path: Path) -> tuple[list[bytes], int]:
    """Complete records of a `*.binpb` file and the number of trailing bytes that form no whole record."""
    data = path.read_bytes()
    records: list[bytes] = []
    try:
        records += [bytes(r) for _, r in iter_records(data)]
    except Truncated as e:
        return records, len(data) - e.offset
    return records, 0


def stored_span_ids(store: Path) -> list[tuple[bytes, bytes]]:
    """(trace id, span id) of every span in the store's complete records, duplicates kept."""
    ids: list[tuple[bytes, bytes]] = []
    for path in sorted(store.glob("*.binpb")):
        for raw in binpb_records(path)[0]:
            td = TracesData.FromString(raw)
            ids += [
                (s.trace_id, s.span_id) for rs in td.resource_spans for ss in rs.scope_spans for s in ss.spans
            ]
    for path in sorted(store.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    ids += [(bytes.fromhex(s["traceId"]), bytes.fromhex(s["spanId"])) for s in ss["spans"]]
    return ids


@pytest.fixture
def store_ids() -> Callable[[Path], list[tuple[bytes, bytes]]]:
    """The stored_span_ids function."""
    return stored_span_ids


@pytest.fixture
def make_receiver(tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    """Starts receivers like `receiver`, with any Receiver keyword changed; stops them after the test."""
    started: list[Receiver] = []

    def make(**changes: Any) -> Receiver:
        options: dict[str, Any] = {
            "grpc_address": "127.0.0.1:0",
            "http_address": "127.0.0.1:0",
            "token": TOKEN,
            "max_bytes": MAX_BYTES,
            "poll_interval": POLL_INTERVAL_S,
        }
        started.append(Receiver(StoreSink(tmp_path / "store"), **{**options, **changes}).start())
        return started[-1]

    yield make
    for r in started:
        r.stop(grace=1)


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    """A started receiver on free 127.0.0.1 ports storing into tmp_path/store, token "s3cret", 1 MiB limit."""
    return make_receiver()


@pytest.fixture
def token() -> str:
    """The bearer token the `receiver` fixture requires."""
    return TOKEN


@pytest.fixture
def max_bytes() -> int:
    """The size limit of the `receiver` fixture."""
    return MAX_BYTES


@pytest.fixture
def records() -> Callable[[Path], tuple[list[bytes], int]]:
    """The binpb_records function."""
    return binpb_records


def finished_spans(n: int) -> list[ReadableSpan]:
    """n finished SDK spans with fresh random ids, ready to hand to an exporter."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i in range(n):
        with tracer.start_as_current_span(f"op{i % 7}"):
            pass
    return list(memory.get_finished_spans())


@pytest.fixture
def make_spans() -> Callable[[int], list[ReadableSpan]]:
    """The finished_spans function."""
    return finished_spans


def otel_fold_collect(*args: str) -> list[str]:
    """The `otel-fold collect ARGS...` command line, run as a module of this interpreter."""
    return [sys.executable, "-m", "analyzer", "collect", *args]


@pytest.fixture
def collect_command() -> Callable[..., list[str]]:
    """The otel_fold_collect function."""
    return otel_fold_collect


# What start_collect returns: the process, its gRPC and HTTP ports (None when off), and its first line.
Started = tuple["subprocess.Popen[str]", int | None, int | None, str]


@pytest.fixture
def start_collect() -> Iterator[Callable[..., Started]]:
    """Starts `otel-fold collect --store DIR` on free 127.0.0.1 ports (later ARGS override); kills it after."""
    procs: list[subprocess.Popen[str]] = []

    def start(store: Path, *args: str, **popen: Any) -> Started:
        cmd = otel_fold_collect(
            "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--store", str(store), *args
        )
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, **popen)
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        ports = dict(re.findall(r"(grpc|http) 127\.0\.0\.1:(\d+)", line))
        assert ports, line
        return proc, _port(ports, "grpc"), _port(ports, "http"), line

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _port(ports: dict[str, str], name: str) -> int | None:
    return int(ports[name]) if name in ports else None
