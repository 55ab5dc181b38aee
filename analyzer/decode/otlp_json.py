"""OTLP/JSON (spec: hex ids, integer enums) and Tempo's gogo-jsonpb variant (base64 ids, enum names).

Envelopes: ``{"resourceSpans"}`` (OTLP, Collector file exporter lines), ``{"batches"}`` (Tempo v1 API),
``{"trace": {...}, "status": "PARTIAL"?}`` (Tempo v2 API), ``{"result": {...}}`` (Jaeger api_v3).
"""

from __future__ import annotations

import base64
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any

import orjson

from analyzer.decode._columns import KINDS, NO_REF, STATUSES, Columns, hex_span_id, hex_trace_id
from analyzer.errors import DecodeError

SERVICE_NAME = "service.name"
STATUS_DESCRIPTION = "otel.status_description"  # where Jaeger puts the status message; we use the same key

# Enum names as gogo-jsonpb (Tempo) writes them, and the integers of the OTLP/JSON spec.
_KIND_CODES: dict[Any, int] = {i: i for i in range(len(KINDS))}
_KIND_CODES.update({f"SPAN_KIND_{k.upper()}": i for i, k in enumerate(KINDS)})
_STATUS_CODES: dict[Any, int] = {i: i for i in range(len(STATUSES))}
_STATUS_CODES.update({f"STATUS_CODE_{s.upper()}": i for i, s in enumerate(STATUSES)})

# envelope key -> how to reach the list of ResourceSpans from it (path, then the list key)
_ENVELOPES: tuple[tuple[str, ...], ...] = (
    ("resourceSpans",),
    ("batches",),
    ("trace", "resourceSpans"),
    ("trace", "batches"),
    ("result", "resourceSpans"),
)


def matches(doc: Any) -> bool:
    """True if `doc` (a parsed JSON value) is one of the OTLP/JSON envelopes."""
    return _resource_spans(doc) is not None


def decode_doc(doc: Any, cols: Columns, where: str = "") -> None:
    """Append the spans of one parsed OTLP/JSON document to `cols`; `where` prefixes positions (e.g. a line)."""
    found = _resource_spans(doc)
    if found is None:
        raise DecodeError(f"{cols.source}: {where}not an OTLP/JSON document (no resourceSpans)")
    path, resource_spans = found
    if isinstance(doc, dict) and doc.get("status") == "PARTIAL":
        cols.warn(f"{where}the backend returned a PARTIAL trace: some spans may be missing")
    if not isinstance(resource_spans, list):
        raise DecodeError(f"{cols.source}: {where}{path} is not a list")
    for ri, rs in enumerate(resource_spans):
        service = _service_name(rs.get("resource"))
        scope_key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"
        for si, ss in enumerate(rs.get(scope_key) or ()):
            spans = ss.get("spans") or ()
            cols.block(f"{where}{path}[{ri}].{scope_key}[{si}].spans")
            service_code = cols.code(cols.services, service)
            if not _decode_spans_by_column(spans, cols, service_code):
                _decode_spans(spans, cols, service_code)
    cols.flush()


def _resource_spans(doc: Any) -> tuple[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    for env in _ENVELOPES:
        node: Any = doc
        for key in env:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return ".".join(env), node
    return None


def _service_name(resource: Any) -> str:
    for kv in (resource or {}).get("attributes") or ():
        if kv.get("key") == SERVICE_NAME:
            return str(any_value(kv.get("value")))
    return ""


# Span fields, in the order `_raw_columns` returns them, with their defaults when absent.
_FIELDS = (
    ("traceId", None), ("spanId", None), ("parentSpanId", None), ("name", ""), ("kind", 0), ("status", None),
    ("startTimeUnixNano", None), ("endTimeUnixNano", None), ("attributes", ()),
)  # fmt: skip
# All of them in one C-level pass per span (each pass over a million dicts is mostly cache misses), but
# parentSpanId, which roots leave out, read by a pass of its own ...
_ALL_FIELDS = itemgetter(*(key for key, _ in _FIELDS if key != "parentSpanId"))
_PARENT_FIELD = methodcaller("get", "parentSpanId")
# ... or, when a span leaves out more (writers omit default values), one C-level pass per field.
_EACH_FIELD = tuple(methodcaller("get", key, default) for key, default in _FIELDS)
_NO_PARENT = {None: "", "": "", "0" * 16: ""}  # parentSpanId values that mean "a root"


def _decode_spans_by_column(spans: Any, cols: Columns, service: int) -> bool:
    """`_decode_spans` for the common case, one column at a time through C-level maps (about twice as
    fast); False, having appended nothing, for anything else (odd ids, status messages, malformed spans),
    which `_decode_spans` then handles span by span, with its messages."""
    if spans.__class__ is not list:
        return False
    try:
        columns = _columns(spans, cols)
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    if columns is None:
        return False
    tids, sids, pids, names, kinds, statuses, starts, ends, plans = columns
    cols.text_ids = True
    cols.trace_id += tids
    cols.span_id += sids
    cols.parent_id += pids
    cols.ref_type += [0 if p else NO_REF for p in pids]
    cols.service += repeat(service, len(spans))
    cols.name += names
    cols.kind += kinds
    cols.status += statuses
    cols.start += starts
    cols.end += ends
    cols.plan += plans
    return True


def _raw_columns(spans: list[Any]) -> tuple[tuple[Any, ...], ...]:
    """The `_FIELDS` of every span, one tuple per field."""
    try:
        trace_ids, span_ids, *rest = zip(*map(_ALL_FIELDS, spans), strict=True)
        return trace_ids, span_ids, tuple(map(_PARENT_FIELD, spans)), *rest
    except KeyError:
        return tuple(tuple(map(get, spans)) for get in _EACH_FIELD)


def _columns(spans: list[Any], cols: Columns) -> tuple[list[Any], ...] | None:
    """The columns of `_decode_spans_by_column`, or None for what it leaves to `_decode_spans`."""
    tid_cache: dict[str, str] = cols.caches.setdefault("otlp_json.trace_id", {})
    raw, span_ids, parents, name_values, kind_values, status, start_values, end_values, attributes = (
        _raw_columns(spans)
    )
    for r in set(raw).difference(tid_cache):  # a few new trace ids per list, if any
        tid_cache[r] = hex_trace_id(r)
    tids = list(map(tid_cache.__getitem__, raw))
    sids: list[str] = list(span_ids)
    pids: list[str] = list(map(_NO_PARENT.get, parents, parents))  # a root's -> "", any other id -> itself
    if set(map(len, sids)) != {16} or not set(map(len, pids)) <= {0, 16}:
        return None  # base64 or trimmed ids: normalized span by span
    for ids in (sids, pids):
        text = "".join(ids)
        if text != text.lower():
            ids[:] = [x.lower() for x in ids]  # rare: most writers use lowercase already
    name_codes = cols.names
    names: list[Any] = list(map(name_codes.get, name_values))
    if None in names:
        names = [cols.code(name_codes, x) for x in name_values]
    kinds = list(map(_KIND_CODES.get, kind_values, repeat(0)))
    statuses = [0] * len(spans)
    if any(status):  # most spans have an empty status ({} or none)
        for i, st in enumerate(status):
            if st:
                if st.get("message"):
                    return None  # becomes an attribute: span by span
                statuses[i] = _STATUS_CODES.get(st.get("code", 0), 0)
    starts = list(map(int, start_values))
    ends = list(map(int, end_values))
    # attribute plans keyed by the attributes as compact JSON (orjson, in C): values are converted once per
    # distinct list, and the key is hashable whatever the values are (arrays, kvlists)
    plan_cache: dict[bytes, int] = cols.caches.setdefault("otlp_json.raw_plan", {})
    keys = list(map(orjson.dumps, attributes))
    plans: list[Any] = list(map(plan_cache.get, keys))
    if None in plans:
        add_plan = cols.add_plan
        for i in [i for i, p in enumerate(plans) if p is None]:
            p = plan_cache.get(keys[i])
            if p is None:
                p = plan_cache[keys[i]] = add_plan(
                    [(kv["key"], any_value(kv.get("value"))) for kv in attributes[i]]
                )
            plans[i] = p
    return tids, sids, pids, names, kinds, statuses, starts, ends, plans


def _decode_spans(spans: Any, cols: Columns, service: int) -> None:
    tid_cache: dict[str, str] = cols.caches.setdefault("otlp_json.trace_id", {})
    plan_cache: dict[tuple[Any, ...], int] = cols.caches.setdefault("otlp_json.plan", {})
    tids, sids, pids = cols.trace_id.append, cols.span_id.append, cols.parent_id.append
    svc, names, kinds, statuses, refs = (
        cols.service.append, cols.name.append, cols.kind.append, cols.status.append, cols.ref_type.append,
    )  # fmt: skip
    starts, ends, plans = cols.start.append, cols.end.append, cols.plan.append
    name_codes, code, add_plan = cols.names, cols.code, cols.add_plan
    cols.text_ids = True
    for sp in spans:
        raw = sp.get("traceId")
        tid = tid_cache.get(raw)
        if tid is None:
            tid = tid_cache[raw] = hex_trace_id(raw)
        tids(tid)
        raw = sp.get("spanId")
        sids(raw.lower() if raw.__class__ is str and len(raw) == 16 else hex_span_id(raw))
        raw = sp.get("parentSpanId")
        if raw and raw.strip("0"):
            pids(raw.lower() if raw.__class__ is str and len(raw) == 16 else hex_span_id(raw))
            refs(0)
        else:
            pids("")
            refs(NO_REF)
        svc(service)
        name = sp.get("name", "")
        c = name_codes.get(name)
        names(c if c is not None else code(name_codes, name))
        kinds(_KIND_CODES.get(sp.get("kind", 0), 0))
        status = sp.get("status")
        statuses(_STATUS_CODES.get(status.get("code", 0), 0) if status else 0)
        starts(int(sp.get("startTimeUnixNano") or 0))
        ends(int(sp.get("endTimeUnixNano") or 0))
        pairs = tuple([(kv["key"], any_value(kv.get("value"))) for kv in sp.get("attributes") or ()])
        if status and status.get("message"):
            pairs += ((STATUS_DESCRIPTION, status["message"]),)
        try:
            p = plan_cache.get(pairs)
        except TypeError:  # a kvlist value (a dict) is not hashable: this span gets its own plan
            plans(add_plan(pairs))
            continue
        if p is None:
            p = plan_cache[pairs] = add_plan(pairs)
        plans(p)


def any_value(v: Any) -> Any:
    """An OTLP/JSON AnyValue -> a Python value (arrays become tuples, kvlists dicts, bytes bytes)."""
    if not v:
        return None
    x = v.get("stringValue")
    if x is not None:  # the common case, first
        return x if x.__class__ is str else str(x)
    for key, x in v.items():  # exactly one key in a well-formed AnyValue
        conv = _ANY_VALUE.get(key)
        return conv(x) if conv is not None else x
    return None


_ANY_VALUE: dict[str, Any] = {
    "stringValue": str,
    "intValue": int,  # int64 is a JSON string per the spec, a number from lenient writers
    "boolValue": bool,
    "doubleValue": float,
    "bytesValue": base64.b64decode,
    "arrayValue": lambda a: tuple(any_value(x) for x in (a or {}).get("values") or ()),
    "kvlistValue": lambda kv: {e["key"]: any_value(e.get("value")) for e in (kv or {}).get("values") or ()},
}
