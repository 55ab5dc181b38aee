"""Fixtures for the receiver tests: a receiver on free loopback ports, and reading a store back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

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
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A started receiver on free 127.0.0.1 ports storing into tmp_path/store, token "s3cret", 1 MiB limit."""
    r = Receiver(
        StoreSink(tmp_path / "store"),
        grpc_address="127.0.0.1:0",
        http_address="127.0.0.1:0",
        token=TOKEN,
        max_bytes=MAX_BYTES,
        poll_interval=POLL_INTERVAL_S,
    ).start()
    yield r
    r.stop(grace=1)


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
