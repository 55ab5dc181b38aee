"""Shared fixtures: a configured flyte_otel with the SDK's in-memory exporter, and a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo


class VirtualClock:
    """A clock that moves only when told to (ns)."""

    def __init__(self, start: int = 1_700_000_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> int:
        self.now += ns
        return self.now


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    fo.shutdown()
    fo.set_clock(None)


@pytest.fixture
def memory() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    fo.configure(exporter=exporter, batch=False)
    return exporter


@pytest.fixture
def clock() -> VirtualClock:
    c = VirtualClock()
    fo.set_clock(c)
    return c
