"""Fixtures: flyte_otel configured into an in-memory exporter (one span processor, drained per test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from propeller_sim.engine import configure

Spans = Callable[[str], InMemorySpanExporter]


@pytest.fixture
def traced() -> Iterator[Spans]:
    """Call with a dialect name: configures flyte_otel for it and returns the exporter holding every span."""

    def setup(dialect: str) -> InMemorySpanExporter:
        exporter = InMemorySpanExporter()
        configure(dialect, exporter=exporter, batch=False)
        return exporter

    yield setup
    fo.shutdown()


def attr(span: ReadableSpan, key: str) -> object:
    """A span attribute (None when absent)."""
    return (span.attributes or {}).get(key)
