"""A SpanExporter appending OTLP/JSON lines, as the Collector's `file` exporter writes them (docs/store.md).

OTLP/JSON (opentelemetry-proto docs/specification.md, "JSON Protobuf Encoding") is protobuf's JSON
mapping except that trace and span ids are hex strings and enums are integers; 64-bit integers are
strings, as protobuf's mapping writes them. Spans are encoded here directly from the SDK's ReadableSpan:
going through the protobuf encoder and `json_format` costs 4-6x more per span (bench_instrumentation.py).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["OtlpJsonLinesExporter", "encode_json"]

_log = logging.getLogger("flyte_otel")
_FLAG_HAS_IS_REMOTE = 0x100  # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_FLAG_IS_REMOTE = 0x200  # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


class OtlpJsonLinesExporter(SpanExporter):
    """Append each export as one `{"resourceSpans": [...]}` line to `path`, written through per export."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # 0700 / 0600: span attributes (ids, node names, URIs) are for the owner, not every local user
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Unbuffered append: each line goes straight to the OS (nothing held in Python when the process
        # dies), so a crash loses at most the line being written.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = open(fd, "ab", buffering=0)  # noqa: SIM115 (held open for the exporter's lifetime)
        self._lock = threading.Lock()
        self._torn = False  # a failed write left part of a line that could not be cut back

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write one line holding these spans."""
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            line = json.dumps(encode_json(spans), separators=(",", ":"), allow_nan=False).encode() + b"\n"
            with self._lock:
                self._write(line)
        except Exception as exc:  # disk full, file closed: drop these spans, never raise into the SDK
            _log.debug("flyte_otel: writing %d spans to %s failed: %r", len(spans), self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _write(self, line: bytes) -> None:
        """All of the line or none of it: a write the disk refuses part-way is cut back, and where even that
        fails the next line starts on a line of its own, so a torn line never swallows a whole one."""
        if self._torn:
            line = b"\n" + line
        size = os.fstat(self._file.fileno()).st_size
        view = memoryview(line)
        try:
            while view:  # a raw write may be short
                view = view[self._file.write(view) :]
        except OSError:
            try:
                os.ftruncate(self._file.fileno(), size)
                self._torn = False
            except OSError:
                self._torn = True
            raise
        self._torn = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every export is already written through."""
        return True

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            try:
                self._file.close()
            except OSError as exc:
                _log.debug("flyte_otel: closing %s failed: %r", self.path, exc)


def encode_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON `TracesData` of these spans, grouped by resource and scope like the OTLP encoder."""
    groups: dict[Any, dict[Any, list[dict[str, Any]]]] = {}
    for span in spans:
        groups.setdefault(span.resource, {}).setdefault(span.instrumentation_scope, []).append(_span(span))
    resource_spans = []
    for resource, scopes in groups.items():
        scope_spans = []
        for scope, encoded in scopes.items():
            entry: dict[str, Any] = {"scope": _scope(scope), "spans": encoded}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        rs: dict[str, Any] = {
            "resource": {"attributes": _attributes(resource.attributes)},
            "scopeSpans": scope_spans,
        }
        if resource.schema_url:
            rs["schemaUrl"] = resource.schema_url
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


def _scope(scope: Any) -> dict[str, Any]:
    if scope is None:
        return {}
    out: dict[str, Any] = {"name": scope.name}
    if scope.version:
        out["version"] = scope.version
    if scope.attributes:
        out["attributes"] = _attributes(scope.attributes)
    return out


def _span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    parent = span.parent
    out: dict[str, Any] = {"traceId": f"{ctx.trace_id:032x}", "spanId": f"{ctx.span_id:016x}"}
    if ctx.trace_state:
        out["traceState"] = ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())
    flags = _FLAG_HAS_IS_REMOTE
    if parent is not None:
        out["parentSpanId"] = f"{parent.span_id:016x}"
        if parent.is_remote:
            flags |= _FLAG_IS_REMOTE
    out["flags"] = flags
    out["name"] = span.name
    out["kind"] = span.kind.value + 1  # the API's INTERNAL is 0; OTLP's SPAN_KIND_INTERNAL is 1
    out["startTimeUnixNano"] = str(span.start_time)
    out["endTimeUnixNano"] = str(span.end_time)
    if span.attributes:
        out["attributes"] = _attributes(span.attributes)
    if span.dropped_attributes:
        out["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        out["events"] = [_event(e) for e in span.events]
    if span.dropped_events:
        out["droppedEventsCount"] = span.dropped_events
    if span.links:
        out["links"] = [_link(link) for link in span.links]
    if span.dropped_links:
        out["droppedLinksCount"] = span.dropped_links
    out["status"] = _status(span)
    return out


def _status(span: ReadableSpan) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if span.status.status_code.value:
        status["code"] = span.status.status_code.value  # UNSET 0, OK 1, ERROR 2 in both
    if span.status.description:
        status["message"] = span.status.description
    return status


def _event(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"timeUnixNano": str(event.timestamp), "name": event.name}
    if event.attributes:
        out["attributes"] = _attributes(event.attributes)
    if event.dropped_attributes:
        out["droppedAttributesCount"] = event.dropped_attributes
    return out


def _link(link: Any) -> dict[str, Any]:
    ctx = link.context
    out: dict[str, Any] = {"traceId": f"{ctx.trace_id:032x}", "spanId": f"{ctx.span_id:016x}"}
    if link.attributes:
        out["attributes"] = _attributes(link.attributes)
    if link.dropped_attributes:
        out["droppedAttributesCount"] = link.dropped_attributes
    out["flags"] = _FLAG_HAS_IS_REMOTE | (_FLAG_IS_REMOTE if ctx.is_remote else 0)
    return out


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in (attributes or {}).items()]


def _value(value: Any) -> dict[str, Any]:
    # Order matters: bool is an int, str is a Sequence.
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        # protobuf's JSON mapping spells the non-finite doubles as strings
        return {"doubleValue": value if math.isfinite(value) else _NON_FINITE[str(value)]}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_value(v) for v in value]} if value else {}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)} if value else {}}
    return {}


_NON_FINITE = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
