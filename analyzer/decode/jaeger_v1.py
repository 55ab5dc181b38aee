"""Jaeger v1 JSON (the HTTP API's ``{data: [trace...], errors}`` envelope, or one bare UI trace).

µs times; 16- or 32-hex-char ids; tags ``{key, type, value}``; the service is ``processes[processID]``.
Tags that Jaeger synthesizes from OTLP fields (span.kind, otel.status_code, otel.scope.*, error) are turned
back into those fields, so an OTLP trace and its Jaeger rendering decode to the same rows.
"""

from __future__ import annotations

import base64
from typing import Any

from analyzer.decode._columns import (
    KINDS,
    NO_REF,
    Columns,
    hex_span_id,
    hex_trace_id,
    is_zero_id,
)
from analyzer.decode.otlp_json import STATUS_DESCRIPTION

__all__ = [
    "append_span",
    "ERROR_TAG",
    "SPAN_KIND_TAG",
    "STATUS_CODE_TAG",
    "US",
    "add_attributes",
    "decode_doc",
    "kind_code",
    "matches",
    "parent_ref",
    "status_code",
]

US = 1000  # ns per µs
SPAN_KIND_TAG = "span.kind"
STATUS_CODE_TAG = "otel.status_code"
ERROR_TAG = "error"
# Tags Jaeger adds when it converts OTLP (jaeger's otlp2jaeger translator); they are fields, not attributes.
_SYNTHETIC_TAGS = frozenset(
    {SPAN_KIND_TAG, STATUS_CODE_TAG, STATUS_DESCRIPTION, ERROR_TAG, "otel.scope.name", "otel.scope.version",
     "otel.library.name", "otel.library.version", "w3c.tracestate", "internal.span.format"}
)  # fmt: skip
_KIND_BY_TAG = {k: i for i, k in enumerate(KINDS)}
_STATUS_BY_TAG = {"UNSET": 0, "OK": 1, "ERROR": 2}
_REF_CODES = {"CHILD_OF": 0, "FOLLOWS_FROM": 1}
_TAG_TYPES: dict[str, Any] = {
    "string": str, "bool": bool, "int64": int, "float64": float, "binary": base64.b64decode,
}  # fmt: skip


def matches(doc: Any) -> bool:
    """True for the ``{data: [...]}`` API envelope or a bare trace ``{traceID, spans, processes}``."""
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("data"), list):
        return all(isinstance(tr, dict) and "spans" in tr for tr in doc["data"])
    return "traceID" in doc and "spans" in doc


def decode_doc(doc: dict[str, Any], cols: Columns, where: str = "") -> None:
    """Append the spans of a Jaeger v1 document to `cols`."""
    if "data" in doc:
        for err in doc.get("errors") or ():
            cols.warn(
                f"{where}Jaeger reported an error: {err.get('msg', err) if isinstance(err, dict) else err}"
            )
        for ti, trace in enumerate(doc["data"]):
            _decode_trace(trace, cols, f"{where}data[{ti}].spans")
    else:
        _decode_trace(doc, cols, f"{where}spans")


def _decode_trace(trace: dict[str, Any], cols: Columns, where: str) -> None:
    processes = trace.get("processes") or {}
    for w in trace.get("warnings") or ():
        cols.warn(f"{where}: Jaeger warning: {w}")
    cols.block(where)
    cols.text_ids = True
    cols.read_each(trace.get("spans") or (), lambda sp: _decode_span(sp, processes, cols))


def _decode_span(sp: dict[str, Any], processes: dict[Any, Any], cols: Columns) -> None:
    tid = hex_trace_id(sp.get("traceID"))
    parent, ref = parent_ref(sp, tid)  # before anything is appended: the likeliest to fail
    process = sp.get("process") or processes.get(sp.get("processID")) or {}
    start = int(sp.get("startTime") or 0) * US
    end = start + int(sp.get("duration") or 0) * US
    tags = {tag["key"]: _tag_value(tag) for tag in sp.get("tags") or ()}
    append_span(cols, (tid, hex_span_id(sp.get("spanID")), parent), ref, process, sp, (start, end), tags)


def append_span(
    cols: Columns,
    ids: tuple[str, str, str],
    ref: int,
    process: dict[str, Any],
    sp: dict[str, Any],
    times: tuple[int, int],
    tags: dict[str, Any],
) -> None:
    """One span's row, its ids (trace, span, parent) and times (start, end) already read: the v1 and domain
    models differ only in how those are spelled."""
    cols.trace_id.append(ids[0])
    cols.span_id.append(ids[1])
    cols.parent_id.append(ids[2])
    cols.ref_type.append(ref)
    cols.service.append(cols.code(cols.services, process.get("serviceName", "")))
    cols.name.append(cols.code(cols.names, sp.get("operationName", "")))
    cols.start.append(times[0])
    cols.end.append(times[1])
    cols.kind.append(kind_code(tags))
    cols.status.append(status_code(tags))
    add_attributes(cols, tags, keep=(STATUS_DESCRIPTION,))


def parent_ref(sp: dict[str, Any], tid: str) -> tuple[str, int]:
    """Jaeger's rule (model.Span.ParentSpanID): the first CHILD_OF ref in the same trace, else the first
    FOLLOWS_FROM one; refs into other traces are not parents. Old payloads carry ``parentSpanID``."""
    best: tuple[str, int] | None = None
    for ref in sp.get("references") or ():
        code = _REF_CODES.get(ref.get("refType", "CHILD_OF"))
        if code is None or hex_trace_id(ref.get("traceID", ref.get("traceId"))) != tid:
            continue
        sid = hex_span_id(ref.get("spanID", ref.get("spanId")))
        if code == 0:
            return sid, 0
        if best is None:
            best = (sid, 1)
    if best is not None:
        return best
    parent = sp.get("parentSpanID")
    if parent and not is_zero_id(parent):
        return hex_span_id(parent), 0
    return "", NO_REF


def kind_code(tags: dict[str, Any]) -> int:
    """Index into KINDS from the ``span.kind`` tag (absent: unspecified)."""
    return _KIND_BY_TAG.get(str(tags.get(SPAN_KIND_TAG, "")).lower(), 0)


def status_code(tags: dict[str, Any]) -> int:
    """Index into STATUSES from ``otel.status_code``, else ``error=true`` (OpenTracing's convention)."""
    status = _STATUS_BY_TAG.get(str(tags.get(STATUS_CODE_TAG, "")).upper(), 0)
    return 2 if not status and tags.get(ERROR_TAG) is True else status


def _tag_value(tag: dict[str, Any]) -> Any:
    conv = _TAG_TYPES.get(str(tag.get("type", "string")).lower())
    value = tag.get("value")
    return conv(value) if conv is not None and value is not None else value


def add_attributes(cols: Columns, tags: dict[str, Any], keep: tuple[str, ...] = ()) -> None:
    """One span's attribute plan from its tags, minus the tags Jaeger synthesized from OTLP fields."""
    cols.plan.append(cols.add_plan((k, v) for k, v in tags.items() if k not in _SYNTHETIC_TAGS or k in keep))
