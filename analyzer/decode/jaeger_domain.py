"""Jaeger domain JSON: gogo-jsonpb of ``jaeger.api_v2.Trace`` / ``Span`` (also the api_v2 gRPC JSON shape).

Base64 ids, RFC 3339 start times with ns digits, Go durations (``"5000ns"``), typed tags (``vType``/``vStr``/
``vInt64``/...), the process embedded in each span or referenced through ``processMap``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from analyzer.decode import jaeger_v1
from analyzer.decode._columns import Columns, hex_span_id, hex_trace_id
from analyzer.units import parse_rfc3339

__all__ = ["decode_doc", "matches"]

_GO_DURATION_PART = re.compile(r"([0-9.]+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# vType is an enum whose zero value (STRING) jsonpb omits
_VALUE_FIELDS: dict[str, tuple[str, Any]] = {
    "STRING": ("vStr", str),
    "BOOL": ("vBool", bool),
    "INT64": ("vInt64", int),
    "FLOAT64": ("vFloat64", float),
    "BINARY": ("vBinary", base64.b64decode),
}


def matches(doc: Any) -> bool:
    """True for ``{spans: [...]}`` whose spans use the domain field names (``operationName`` + ``spanId``)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("spans"), list) or "traceID" in doc:
        return False
    first = doc["spans"][0] if doc["spans"] else {}
    return isinstance(first, dict) and "operationName" in first and "spanId" in first


def decode_doc(doc: dict[str, Any], cols: Columns, where: str = "") -> None:
    """Append the spans of one domain-model trace to `cols`."""
    processes = {p.get("processId"): p.get("process") or {} for p in doc.get("processMap") or ()}
    for w in doc.get("warnings") or ():
        cols.warn(f"{where}Jaeger warning: {w}")
    cols.block(f"{where}spans")
    cols.text_ids = True
    cols.read_each(doc["spans"], lambda sp: _decode_span(sp, processes, cols))


def _decode_span(sp: dict[str, Any], processes: dict[Any, Any], cols: Columns) -> None:
    # Re-shape into the v1 field names so the parent rule and tag handling are Jaeger v1's, not a twin.
    tid = hex_trace_id(sp.get("traceId"))
    start = _rfc3339_ns(sp.get("startTime"))
    dur = _go_duration_ns(sp.get("duration", "0s"))
    tags = {tag.get("key"): _tag_value(tag) for tag in sp.get("tags") or ()}
    process = sp.get("process") or processes.get(sp.get("processId")) or {}
    refs = [
        {"refType": r.get("refType", "CHILD_OF"), "traceID": r.get("traceId"), "spanID": r.get("spanId")}
        for r in sp.get("references") or ()
    ]
    parent, ref = jaeger_v1.parent_ref({"references": refs}, tid)
    jaeger_v1.append_span(
        cols, (tid, hex_span_id(sp.get("spanId")), parent), ref, process, sp, (start, start + dur), tags
    )


def _tag_value(tag: dict[str, Any]) -> Any:
    field, conv = _VALUE_FIELDS.get(tag.get("vType", "STRING"), ("vStr", str))
    value = tag.get(field)
    if value is None:  # jsonpb omits zero values: "", false, 0
        return conv() if conv is not base64.b64decode else b""
    return conv(value)


def _rfc3339_ns(text: Any) -> int:
    try:
        return parse_rfc3339(text if isinstance(text, str) else repr(text))
    except ValueError:
        raise ValueError(f"startTime {text!r} is not an RFC 3339 time") from None


def _go_duration_ns(text: Any) -> int:
    if isinstance(text, int | float):
        return int(text)
    parts = _GO_DURATION_PART.findall(text) if isinstance(text, str) else []
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("-"):
        raise ValueError(f"duration {text!r} is not a duration")
    ns = sum(round(float(n) * _UNIT_NS[u]) for n, u in parts)
    return -ns if text.startswith("-") else ns
