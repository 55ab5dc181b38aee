"""The SDK's finished spans as an OTLP `TracesData`: protobuf bytes, or the OTLP/JSON document.

Both are written here directly from the SDK's ReadableSpan, grouped by resource and scope as the SDK's OTLP
encoder groups them, for the file exporter. Going through the SDK's encoder (pb2 messages built one field at
a time) costs ~2.5x more per span for protobuf and, with `json_format`, 4-6x more for JSON
(bench_instrumentation.py); tests check both against it.

OTLP/JSON (opentelemetry-proto docs/specification.md, "JSON Protobuf Encoding") is protobuf's JSON mapping
except that trace and span ids are hex strings and enums are integers; 64-bit integers are strings, as
protobuf's mapping writes them. The protobuf bytes are those `encode_spans(...).SerializeToString()` writes:
fields in number order, defaults of plain scalars left out, message fields written even when empty.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["ProtoEncoder", "encode_json"]

_FLAG_HAS_IS_REMOTE = 0x100  # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_FLAG_IS_REMOTE = 0x200  # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_CACHED = 4_096  # encoded attributes remembered by a ProtoEncoder before it starts afresh (memory stays flat)
_INT64 = range(-(2**63), 2**63)
_UINT64 = 0xFFFF_FFFF_FFFF_FFFF
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_IDS = struct.Struct(
    ">2sQQ2sQ"
).pack  # trace_id (1) and span_id (2) with their tags, big-endian as OTLP's bytes
_PARENT = struct.Struct(">2sQ").pack
_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano (7) and end_time_unix_nano (8), fixed64
_KIND = [b"\x30" + bytes((k + 1,)) for k in range(5)]  # the API's INTERNAL is 0; OTLP's SPAN_KIND_INTERNAL 1
# flags (the span's field 16, a link's 6, fixed32) by whether the parent or linked context is remote
_FLAGS = {
    r: b"\x85\x01" + struct.pack("<I", _FLAG_HAS_IS_REMOTE | _FLAG_IS_REMOTE * r) for r in (False, True)
}
_LINK_FLAGS = {
    r: b"\x35" + struct.pack("<I", _FLAG_HAS_IS_REMOTE | _FLAG_IS_REMOTE * r) for r in (False, True)
}


def _group(
    spans: Sequence[ReadableSpan], encode: Callable[[ReadableSpan], Any]
) -> dict[Any, dict[Any, list[Any]]]:
    """resource -> scope -> encoded spans, in order of first appearance (the SDK encoder's grouping)."""
    groups: dict[Any, dict[Any, list[Any]]] = {}
    resource = scope = bucket = None
    for span in spans:
        # Looked up only when they change: a Resource's hash serializes its attributes to JSON each time.
        if span.resource is not resource or (span.instrumentation_scope or None) is not scope:
            resource, scope = span.resource, span.instrumentation_scope or None
            bucket = groups.setdefault(resource, {}).setdefault(scope, [])
        bucket.append(encode(span))  # type: ignore[union-attr]  # set on the first span
    return groups


def _flags(parent: Any) -> int:
    return _FLAG_HAS_IS_REMOTE | (_FLAG_IS_REMOTE if parent is not None and parent.is_remote else 0)


def _trace_state(ctx: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in ctx.trace_state.items()) if ctx.trace_state else ""


# --- protobuf -----------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field, written even when empty (a message field: its presence is kept)."""
    n = len(payload)
    return tag + (bytes((n,)) if n < 0x80 else _varint(n)) + payload


def _text(tag: bytes, text: str | None) -> bytes:
    """A plain string field: left out when empty, as proto3 leaves out a default."""
    return _field(tag, text.encode()) if text else b""


def _count(tag: bytes, n: int) -> bytes:
    return tag + _varint(n) if n else b""


def _times(start: int | None, end: int | None) -> bytes:
    if start and end:
        return _TIMES(0x39, start, 0x41, end)
    return (b"\x39" + _FIXED64(start) if start else b"") + (b"\x41" + _FIXED64(end) if end else b"")


def _value(v: Any) -> bytes:
    """An AnyValue's fields; ValueError for what OTLP cannot hold. Order matters: bool is an int, str is a
    Sequence."""
    if isinstance(v, bool):
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, str):
        return _field(b"\x0a", v.encode())
    if isinstance(v, int):
        if v not in _INT64:
            raise ValueError(f"{v} is beyond int64")
        return b"\x18" + _varint(v & _UINT64)
    if isinstance(v, float):
        return b"\x21" + _DOUBLE(v)
    if isinstance(v, bytes):
        return _field(b"\x3a", v)
    if isinstance(v, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _value(x)) for x in v))
    if isinstance(v, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), x)) for k, x in v.items()))
    raise ValueError(f"{type(v).__name__} is no attribute value")


def _key_value(key: str, value: Any) -> bytes:
    return _text(b"\x0a", key) + _field(b"\x12", _value(value))


def _attribute(tag: bytes, key: str, value: Any) -> bytes:
    """One KeyValue field; nothing for a value OTLP cannot hold, which the SDK's encoder drops too."""
    try:
        return _field(tag, _key_value(key, value))
    except ValueError:
        return b""


class ProtoEncoder:
    """Serialized `TracesData` of a batch of spans. Keeps the encodings of recent attributes: a component's
    spans repeat the same execution ids, workflow and namespace, and re-encoding them is a third of the cost."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[bytes, str, type, Any], bytes] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The `TracesData` bytes, as the SDK's OTLP encoder would serialize them."""
        out = []
        for resource, scopes in _group(spans, self._span).items():
            body = [_field(b"\x0a", self._attrs(b"\x0a", resource.attributes))]
            for scope, encoded in scopes.items():
                scope_spans = [
                    _field(b"\x0a", self._scope(scope)),
                    *encoded,
                    _text(b"\x1a", scope and scope.schema_url),
                ]
                body.append(_field(b"\x12", b"".join(scope_spans)))
            body.append(_text(b"\x1a", resource.schema_url))
            out.append(_field(b"\x0a", b"".join(body)))
        return b"".join(out)

    def _attrs(self, tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
        """Each attribute as a repeated KeyValue field `tag`; scalars are remembered with the tag and their
        type (True == 1 == 1.0 as dict keys)."""
        if not attributes:
            return b""
        cache = self._attributes
        if len(cache) > _CACHED:
            cache.clear()
        parts = []
        for key, value in attributes.items():
            if isinstance(value, str | int | float):
                ident = (tag, key, value.__class__, value)
                part = cache.get(ident)
                if part is None:
                    part = cache[ident] = _attribute(tag, key, value)
            else:
                part = _attribute(tag, key, value)
            parts.append(part)
        return b"".join(parts)

    def _scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        return (
            _text(b"\x0a", scope.name)
            + _text(b"\x12", scope.version)
            + self._attrs(b"\x1a", scope.attributes)
        )

    def _span(self, span: ReadableSpan) -> bytes:
        """A Span field. The fields most spans have are packed with few calls; the rest is `_extras`."""
        ctx = span.context
        parent = span.parent
        trace_id = ctx.trace_id
        fields = [_IDS(b"\x0a\x10", trace_id >> 64, trace_id & _UINT64, b"\x12\x08", ctx.span_id)]
        if ctx.trace_state:
            fields.append(_text(b"\x1a", _trace_state(ctx)))
        if parent is not None:
            fields.append(_PARENT(b"\x22\x08", parent.span_id))
        fields += (_text(b"\x2a", span.name), _KIND[span.kind.value], _times(span.start_time, span.end_time),
                   self._attrs(b"\x4a", span.attributes))  # fmt: skip
        if span.events or span.links or span.dropped_attributes or span.dropped_events or span.dropped_links:
            fields.append(self._extras(span))
        status = span.status
        fields += (
            _field(b"\x7a", _text(b"\x12", status.description) + _count(b"\x18", status.status_code.value))
            if status.description or status.status_code.value
            else b"\x7a\x00",
            _FLAGS[parent is not None and parent.is_remote],
        )
        return _field(b"\x12", b"".join(fields))

    def _extras(self, span: ReadableSpan) -> bytes:
        """Fields 10-14, in their order: dropped attributes, events, dropped events, links, dropped links."""
        return b"".join((
            _count(b"\x50", span.dropped_attributes),
            *(_field(b"\x5a", self._event(e)) for e in span.events),
            _count(b"\x60", span.dropped_events),
            *(_field(b"\x6a", self._link(link)) for link in span.links),
            _count(b"\x70", span.dropped_links),
        ))  # fmt: skip

    def _event(self, event: Any) -> bytes:
        return b"".join((
            b"\x09" + _FIXED64(event.timestamp) if event.timestamp else b"",
            _text(b"\x12", event.name),
            self._attrs(b"\x1a", event.attributes),
            _count(b"\x20", event.dropped_attributes),
        ))  # fmt: skip

    def _link(self, link: Any) -> bytes:
        ctx = link.context
        return b"".join((
            b"\x0a\x10", ctx.trace_id.to_bytes(16, "big"), b"\x12\x08", ctx.span_id.to_bytes(8, "big"),
            self._attrs(b"\x22", link.attributes),
            _count(b"\x28", link.dropped_attributes),
            _LINK_FLAGS[ctx.is_remote],
        ))  # fmt: skip


# --- JSON ---------------------------------------------------------------------------------------------------


def encode_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON `TracesData` of these spans, grouped by resource and scope like the OTLP encoder."""
    resource_spans = []
    for resource, scopes in _group(spans, _span).items():
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
        out["traceState"] = _trace_state(ctx)
    if parent is not None:
        out["parentSpanId"] = f"{parent.span_id:016x}"
    out["flags"] = _flags(parent)
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
    out["flags"] = _flags(ctx)
    return out


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": _json_value(v)} for k, v in (attributes or {}).items()]


def _json_value(value: Any) -> dict[str, Any]:
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
        return {"arrayValue": {"values": [_json_value(v) for v in value]} if value else {}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)} if value else {}}
    return {}


_NON_FINITE = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
