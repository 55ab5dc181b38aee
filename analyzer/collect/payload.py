"""What the receiver admits: each request is read with the store reader's own decoder before it is stored.

So the store only ever holds what reads back. A request that reads whole is stored as it came; spans the
reader would skip are left out of what is stored and reported to the sender with OTLP's partial success
(opentelemetry-proto v1.11.0 opentelemetry/proto/collector/trace/v1/trace_service.proto:44-59); a request
of which nothing reads is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError as ProtoDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from analyzer.decode import decode_request, otlp_json
from analyzer.errors import DecodeError

__all__ = ["Admitted", "InvalidRequest", "admit_json", "admit_proto"]

_SOURCE = "request"
_BOM = b"\xef\xbb\xbf"  # RFC 8259 section 8.1: a parser MAY ignore one; a store line may not hold it
_REQUEST = {
    "otlp-proto": "OTLP/protobuf ExportTraceServiceRequest",
    "otlp-json": "OTLP/JSON ExportTraceServiceRequest",
}
_MESSAGE_MAX = 1_000  # characters of the partial-success message (the first reasons; the count says the rest)


class InvalidRequest(DecodeError):
    """The body is not a valid OTLP trace export request, or none of its spans reads back (gRPC
    INVALID_ARGUMENT, HTTP 400)."""


@dataclass(frozen=True)
class Admitted:
    """What to store of one request, and what to answer: `data` holds the `accepted` spans (b"" if none);
    `rejected` spans were left out, `message` says why (or warns, with nothing rejected)."""

    data: bytes
    accepted: int
    rejected: int
    message: str

    def _partial(self) -> ExportTracePartialSuccess | None:
        if not self.rejected and not self.message:
            return None  # an empty partial_success equals none (trace_service.proto:56-58)
        return ExportTracePartialSuccess(rejected_spans=self.rejected, error_message=self.message)

    def response_proto(self) -> bytes:
        """The serialized ExportTraceServiceResponse."""
        partial = self._partial()
        if partial is None:
            return b""
        return bytes(ExportTraceServiceResponse(partial_success=partial).SerializeToString())

    def response_json(self) -> bytes:
        """The OTLP/JSON ExportTraceServiceResponse (int64 as a string, the proto3 JSON mapping)."""
        if self._partial() is None:
            return b"{}"
        partial = {"rejectedSpans": str(self.rejected), "errorMessage": self.message}
        return json.dumps({"partialSuccess": partial}).encode()


def admit_proto(raw: bytes) -> Admitted:
    """Read a serialized ExportTraceServiceRequest (the same bytes as a TracesData) as the store would."""
    if not raw:
        return Admitted(b"", 0, 0, "")  # no resource_spans: a valid, empty request
    spans, skipped, warnings = _read(raw, "otlp-proto")
    if not skipped:
        return Admitted(raw, spans, 0, _message(warnings, 0))
    try:
        req = ExportTraceServiceRequest.FromString(raw)
    except ProtoDecodeError as e:  # read by our lenient decoder, refused by protobuf: cannot be re-encoded
        raise InvalidRequest(
            f"{_SOURCE}: {len(skipped)} span(s) unreadable in a request protobuf refuses ({e})"
        ) from None
    _drop((ss.spans for rs in req.resource_spans for ss in rs.scope_spans), skipped)
    data = bytes(req.SerializeToString())
    return Admitted(data, spans - len(skipped), len(skipped), _message(warnings, len(skipped)))


def admit_json(body: bytes) -> Admitted:
    """Read an OTLP/JSON ExportTraceServiceRequest as the store would; `data` is it on one store line."""
    body = body.removeprefix(_BOM)
    spans, skipped, warnings = _read(body, "otlp-json")
    if skipped:
        doc = _parse(body)  # read whole above: its shape is known
        _drop(otlp_json.span_lists(doc), skipped)
        body = _one_line(doc)
    elif b"\n" in body or b"\r" in body:  # a store line is one line: re-serialize what was pretty-printed
        body = _one_line(_parse(body))
    return Admitted(
        body.strip() + b"\n", spans - len(skipped), len(skipped), _message(warnings, len(skipped))
    )


def _parse(body: bytes) -> Any:
    """As the reader parses (analyzer.decode._loads): what orjson refuses (invalid UTF-8, NaN, big numbers)
    the standard library reads, with invalid UTF-8 replaced."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body.decode("utf-8", "replace"))


def _one_line(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the standard library writes it
        return json.dumps(doc, separators=(",", ":")).encode()


def _read(body: bytes, expect: str) -> tuple[int, list[int], list[str]]:
    try:
        spans, skipped, warnings = decode_request(body, expect, _SOURCE)
    except DecodeError as e:
        raise InvalidRequest(f"{_REQUEST[expect]} refused: {e}") from None
    if skipped and len(skipped) == spans:
        raise InvalidRequest(
            f"{_REQUEST[expect]} refused: no span could be read ({'; '.join(warnings)})"[:_MESSAGE_MAX]
        )
    return spans, skipped, warnings


def _drop(span_lists: Iterator[Any], positions: list[int]) -> None:
    """Delete the spans at `positions` (counted across all lists, in order) from each scope's spans."""
    drop = set(positions)
    k = 0
    for spans in span_lists:
        n = len(spans)
        for i in reversed([i for i in range(n) if k + i in drop]):
            del spans[i]
        k += n


def _message(warnings: list[str], rejected: int) -> str:
    if not warnings:
        return ""
    head = f"{rejected} span(s) rejected: " if rejected else ""
    return (head + "; ".join(warnings))[:_MESSAGE_MAX]
