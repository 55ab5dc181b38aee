"""Validate OTLP trace export requests (protobuf or JSON) before they are stored, and count their spans."""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from analyzer.errors import DecodeError

__all__ = ["InvalidRequest", "count_proto", "json_line"]

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")


class InvalidRequest(DecodeError):
    """The body is not a valid OTLP trace export request (gRPC INVALID_ARGUMENT, HTTP 400)."""


def count_proto(raw: bytes) -> int:
    """Number of spans in a serialized ExportTraceServiceRequest; InvalidRequest if it does not parse."""
    try:
        req = ExportTraceServiceRequest.FromString(raw)
    except ProtoDecodeError as e:
        raise InvalidRequest(
            f"request body ({len(raw)} bytes) is not an ExportTraceServiceRequest: {e}"
        ) from e
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}.{key} is not a list")
    return value


def _dict(obj: object, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidRequest(f"{where} is not an object")
    return obj


def json_line(body: bytes) -> tuple[bytes, int]:
    """The request as one store line (`*.jsonl`) and its span count; InvalidRequest if it is not OTLP/JSON.

    Checks the structure the store reader relies on (resourceSpans/scopeSpans/spans, hex ids) with
    `json.loads`, never protobuf's json_format, which is an order of magnitude slower.
    """
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidRequest(f"request body is not JSON: {e}") from e
    _dict(doc, "request")
    n = 0
    for i, rs in enumerate(_list(doc, "resourceSpans", "request")):
        where = f"resourceSpans[{i}]"
        for j, ss in enumerate(_list(_dict(rs, where), "scopeSpans", where)):
            where_s = f"{where}.scopeSpans[{j}]"
            for k, span in enumerate(_list(_dict(ss, where_s), "spans", where_s)):
                where_k = f"{where_s}.spans[{k}]"
                _dict(span, where_k)
                if not _TRACE_ID.fullmatch(str(span.get("traceId", ""))):
                    raise InvalidRequest(f"{where_k}.traceId is not 32 hex digits")
                if not _SPAN_ID.fullmatch(str(span.get("spanId", ""))):
                    raise InvalidRequest(f"{where_k}.spanId is not 16 hex digits")
                n += 1
    # A line of the store must be one line: re-serialize only when the sender pretty-printed.
    line = (
        body if b"\n" not in body and b"\r" not in body else json.dumps(doc, separators=(",", ":")).encode()
    )
    return line.strip() + b"\n", n
