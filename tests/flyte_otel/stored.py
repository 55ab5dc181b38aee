"""What flyte_otel's file exporter stored, as OTLP/JSON span dicts whichever format it wrote (hex ids, integer
enums, 64-bit integers as strings), for tests that look at single fields."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from analyzer.framing import JSON_LINES_SUFFIX, SUFFIXES, iter_records

_IDS = ("traceId", "spanId", "parentSpanId")


def _json_spans(path: Path) -> list[dict[str, Any]]:
    return [span for line in path.read_text().splitlines() for span in _spans(json.loads(line))]


def _proto_spans(path: Path) -> list[dict[str, Any]]:
    # protobuf's JSON mapping writes bytes as base64; OTLP/JSON writes ids as hex (its one difference)
    return [
        {k: base64.b64decode(v).hex() if k in _IDS else v for k, v in span.items()}
        for _, raw in iter_records(path.read_bytes())
        for span in _spans(MessageToDict(TracesData.FromString(raw), use_integers_for_enums=True))
    ]


def _spans(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        span
        for rs in doc.get("resourceSpans", ())
        for ss in rs.get("scopeSpans", ())
        for span in ss.get("spans", ())
    ]


def store_spans(where: Path) -> list[dict[str, Any]]:
    """Every span in a store file, or in the store files of a directory (none if there is no such directory)."""
    files = sorted(p for p in where.iterdir() if p.suffix in SUFFIXES) if where.is_dir() else [where]
    return [
        span for f in files for span in (_json_spans if f.suffix == JSON_LINES_SUFFIX else _proto_spans)(f)
    ]
