"""What a store index needs from one record, read without decoding it: per span its trace, exec_id, workflow
and times (analyzer/store/index.py groups them).

Only the usual shapes are read (hex ids in JSON, 16-byte ids in protobuf, string attributes): a record of any
other shape gives None, and the index then reads it for every execution, so an odd record costs speed, never
a span. A trace key is the id as the decoders normalize it (32 lowercase hex digits).
"""

from __future__ import annotations

import binascii
from typing import Any, NamedTuple

import msgspec
from google.protobuf.message import DecodeError as ProtoDecodeError
from opentelemetry.proto.trace.v1 import trace_pb2

from flyte_otel import semconv

__all__ = ["SpanKey", "json_keys", "proto_keys"]

_TRACE_HEX = 32
_TRACE_BYTES = 16
_WANTED = frozenset((semconv.EXEC_ID, semconv.WORKFLOW))


class SpanKey(NamedTuple):
    """One span as the index sees it."""

    trace: str
    exec_id: str | None
    workflow: str | None
    start_ns: int
    end_ns: int


class _KeyValue(msgspec.Struct):
    key: Any = None
    value: msgspec.Raw = msgspec.Raw(b"")


class _Span(msgspec.Struct):
    traceId: Any = None
    startTimeUnixNano: Any = 0
    endTimeUnixNano: Any = 0
    attributes: list[_KeyValue] = []


# The lists are required, as in otlp_json's typed reader: another envelope (instrumentationLibrarySpans) must
# not pass for a record without spans, which the index would then never read.
class _ScopeSpans(msgspec.Struct):
    spans: list[_Span]


class _ResourceSpans(msgspec.Struct):
    scopeSpans: list[_ScopeSpans]


class _TracesData(msgspec.Struct):
    resourceSpans: list[_ResourceSpans]


class _StringValue(msgspec.Struct):
    stringValue: Any = None


_JSON = msgspec.json.Decoder(_TracesData)
_VALUE = msgspec.json.Decoder(_StringValue)


def json_keys(line: bytes) -> list[SpanKey] | None:
    """The spans of one OTLP/JSON line; None if it is not of the usual shape (or not JSON at all)."""
    try:
        doc = _JSON.decode(line)
        return [_json_span(span) for rs in doc.resourceSpans for ss in rs.scopeSpans for span in ss.spans]
    except (msgspec.DecodeError, ValueError, TypeError, AttributeError):
        return None


def _json_span(span: _Span) -> SpanKey:
    trace = span.traceId
    if not isinstance(trace, str) or len(trace) != _TRACE_HEX:
        raise ValueError("not a hex trace id")
    bytes.fromhex(trace)  # ValueError unless hex
    found = {kv.key: _VALUE.decode(kv.value).stringValue for kv in span.attributes if kv.key in _WANTED}
    return SpanKey(
        trace.lower(),
        _text(found.get(semconv.EXEC_ID)),
        _text(found.get(semconv.WORKFLOW)),
        int(span.startTimeUnixNano),
        int(span.endTimeUnixNano),
    )


def proto_keys(payload: bytes | memoryview) -> list[SpanKey] | None:
    """The spans of one serialized TracesData; None if it does not parse or holds an unusual id."""
    try:
        td = trace_pb2.TracesData.FromString(payload)
    except (ProtoDecodeError, RuntimeError):
        return None
    keys = []
    for rs in td.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.trace_id) != _TRACE_BYTES:
                    return None
                found = {kv.key: kv.value for kv in span.attributes if kv.key in _WANTED}
                keys.append(
                    SpanKey(
                        binascii.hexlify(span.trace_id).decode(),
                        _proto_text(found.get(semconv.EXEC_ID)),
                        _proto_text(found.get(semconv.WORKFLOW)),
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                    )
                )
    return keys


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _proto_text(value: Any) -> str | None:
    return value.string_value if value is not None and value.WhichOneof("value") == "string_value" else None
