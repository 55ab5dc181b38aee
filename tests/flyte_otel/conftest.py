"""Shared fixtures: a configured flyte_otel with the SDK's in-memory exporter, and a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from tests.builders import VirtualClock


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
