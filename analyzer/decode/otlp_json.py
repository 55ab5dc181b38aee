"""OTLP/JSON (spec: hex ids, integer enums) and Tempo's gogo-jsonpb variant (base64 ids, enum names).

Envelopes: ``{"resourceSpans"}`` (OTLP, Collector file exporter lines), ``{"batches"}`` (Tempo v1 API),
``{"trace": {...}, "status": "PARTIAL"?}`` (Tempo v2 API), ``{"result": {...}}`` (Jaeger api_v3).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa

from analyzer import ids
from analyzer.decode._columns import (
    KINDS,
    NO_REF,
    SPAN_ERRORS,
    STATUSES,
    Columns,
    hex_span_id,
    hex_trace_id,
)
from analyzer.errors import DecodeError

__all__ = [
    "SERVICE_NAME",
    "STATUS_DESCRIPTION",
    "any_value",
    "decode_doc",
    "decode_typed",
    "matches",
    "span_lists",
]

# Resource and status keys read apart from the attributes.
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
        scope_key = _scope_key(rs)
        for si, ss in enumerate(rs.get(scope_key) or ()):
            spans = ss.get("spans") or ()
            cols.block(f"{where}{path}[{ri}].{scope_key}[{si}].spans")
            service_code = cols.code(cols.services, service)
            if not _decode_spans_by_column(spans, cols, service_code):
                _decode_spans(spans, cols, service_code)
    cols.flush()


def span_lists(doc: Any) -> Iterator[list[Any]]:
    """Each scope's list of spans in a document `decode_doc` has read, in the order it read them."""
    found = _resource_spans(doc)
    for rs in found[1] if found is not None else ():
        for ss in rs.get(_scope_key(rs)) or ():
            if ss.get("spans"):
                yield ss["spans"]


def _scope_key(rs: Any) -> str:
    """The key of a resource's list of scopes: OTLP's, or its older name."""
    return "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"


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
    """`_decode_spans` for the common case, one column at a time through C-level maps and Arrow (about
    twice as fast); False, having appended nothing, for anything else (odd ids, status messages, malformed
    spans), which `_decode_spans` then handles span by span, with its messages."""
    if spans.__class__ is not list:
        return False
    try:
        fields = _raw_columns(spans)
        attributes = fields[-1]
        # attribute plans keyed by the attributes as compact JSON (orjson, in C): values are converted once
        # per distinct list, and the key is hashable whatever the values are (arrays, kvlists)
        columns = _columns(fields, list(map(orjson.dumps, attributes)), attributes.__getitem__, cols)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError, RecursionError):
        return False
    if columns is None:
        return False
    _add(columns, service, cols)
    return True


def _add(columns: _Columns, service: int, cols: Columns) -> None:
    trace_id, span_id, parent_id, numeric = columns
    numeric["service"] = np.full(len(span_id), service, dtype=np.int64)
    cols.add_rows(trace_id, span_id, parent_id, numeric)


def _raw_columns(spans: list[Any]) -> tuple[tuple[Any, ...], ...]:
    """The `_FIELDS` of every span, one tuple per field."""
    try:
        trace_ids, span_ids, *rest = zip(*map(_ALL_FIELDS, spans), strict=True)
        return trace_ids, span_ids, tuple(map(_PARENT_FIELD, spans)), *rest
    except KeyError:
        return tuple(tuple(map(get, spans)) for get in _EACH_FIELD)


_Columns = tuple[pa.Array, pa.Array, pa.Array, dict[str, np.ndarray]]


def _columns(
    fields: tuple[tuple[Any, ...], ...],
    keys: list[bytes],
    attribute_list: Callable[[int], Any],
    cols: Columns,
) -> _Columns | None:
    """The columns of spans from their `_FIELDS` (statuses as dicts or None) and their attributes' keys
    (equal keys: equal attributes; `attribute_list(i)` gives span i's OTLP/JSON attribute list); None for
    what is left to `_decode_spans`. Registers names and attribute plans as it goes."""
    tid_cache: dict[str, str] = cols.caches.setdefault("otlp_json.trace_id", {})
    raw, span_ids, parents, name_values, kind_values, status, start_values, end_values, _ = fields
    for r in set(raw).difference(tid_cache):  # a few new trace ids per list, if any
        tid_cache[r] = hex_trace_id(r)
    trace_id = ids.hex_text(list(map(tid_cache.__getitem__, raw)), 32)
    span_id = ids.hex_text(span_ids, 16)
    # a root's parentSpanId -> "", any other id -> itself
    parent_id = ids.hex_text(list(map(_NO_PARENT.get, parents, parents)), 16, allow_empty=True)
    if trace_id is None or span_id is None or parent_id is None:
        return None  # base64 or trimmed ids: normalized span by span
    name_codes = cols.names
    names: list[Any] = list(map(name_codes.get, name_values))
    if None in names:
        names = [cols.code(name_codes, x) for x in name_values]
    statuses = _status_codes(status)
    if statuses is None:
        return None
    plan_cache: dict[bytes, int] = cols.caches.setdefault("otlp_json.raw_plan", {})
    plans: list[Any] = list(map(plan_cache.get, keys))
    if None in plans:
        add_plan = cols.add_plan
        for i in [i for i, p in enumerate(plans) if p is None]:
            p = plan_cache.get(keys[i])
            if p is None:
                p = plan_cache[keys[i]] = add_plan(
                    [(kv["key"], any_value(kv.get("value"))) for kv in attribute_list(i) or ()]
                )
            plans[i] = p
    has_parent = ids.lengths(parent_id) > 0
    return (
        trace_id,
        span_id,
        parent_id,
        {
            "name": np.array(names, dtype=np.int64),
            "kind": np.array(list(map(_KIND_CODES.get, kind_values, repeat(0))), dtype=np.int64),
            "status": np.array(statuses, dtype=np.int64),
            "ref_type": np.where(has_parent, 0, NO_REF),
            "start": _times(start_values),
            "end": _times(end_values),
            "plan": np.array(plans, dtype=np.int64),
        },
    )


def _times(values: tuple[Any, ...]) -> np.ndarray:
    """Times written as decimal strings (the spec) parsed by Arrow; numbers, or what Arrow does not take,
    by int() (OverflowError past int64, ValueError/TypeError for the rest: the per-span path's to word)."""
    try:
        arr = pa.array(values, type=pa.string())
        if not arr.null_count:
            return np.asarray(arr.cast(pa.int64()).to_numpy())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    return np.array(list(map(int, values)), dtype=np.int64)


# The usual OTLP/JSON document, typed for msgspec: it validates the JSON and builds small structs, and
# leaves the attributes, statuses and resources as raw JSON (msgspec.Raw) to be parsed once per distinct
# value. The lists are required: a document without them (another envelope, "instrumentationLibrarySpans",
# empty lists left out) fails here and takes the dict way, as does any value of another type.
class _Span(msgspec.Struct):
    traceId: Any = None
    spanId: Any = None
    parentSpanId: Any = None
    name: Any = ""
    kind: Any = 0
    startTimeUnixNano: Any = None
    endTimeUnixNano: Any = None
    attributes: msgspec.Raw = msgspec.Raw(b"")
    status: msgspec.Raw = msgspec.Raw(b"")


class _ScopeSpans(msgspec.Struct):
    spans: list[_Span]


class _ResourceSpans(msgspec.Struct):
    scopeSpans: list[_ScopeSpans]
    resource: msgspec.Raw = msgspec.Raw(b"")


class _TracesData(msgspec.Struct):
    resourceSpans: list[_ResourceSpans]
    status: Any = None  # "PARTIAL" (Tempo): decode_doc warns


_TYPED = msgspec.json.Decoder(_TracesData)
_RAW_CACHE_MAX = 200_000  # distinct raw values remembered (unique values such as blob keys: it restarts)
_SPAN_FIELDS = attrgetter(*(key for key, _ in _FIELDS))


def decode_typed(data: bytes, cols: Columns, where: str = "") -> bool:
    """Append the spans of one OTLP/JSON ``{"resourceSpans": …}`` document, read into typed structs (about
    5x faster than dicts, measured); False, having appended nothing, for any other JSON, invalid JSON, or
    spans `decode_doc` must read span by span — the caller then parses it the general way."""
    try:
        doc = _TYPED.decode(data)
    except msgspec.DecodeError:  # ValidationError included
        return False
    if doc.status is not None:
        return False
    raw_cache: dict[bytes, Any] = cols.caches.setdefault("otlp_json.raw", {})
    parts: list[tuple[str, str, Any]] = []  # (where, service, the block's columns or None when empty)
    try:
        for ri, rs in enumerate(doc.resourceSpans):
            service = _service_name(_raw_value(rs.resource, raw_cache))
            for si, ss in enumerate(rs.scopeSpans):
                block = f"{where}resourceSpans[{ri}].scopeSpans[{si}].spans"
                if not ss.spans:
                    parts.append((block, service, None))
                    continue
                tids, sids, parents, names, kinds, status, starts, ends, attributes = zip(
                    *map(_SPAN_FIELDS, ss.spans), strict=True
                )
                keys = list(map(bytes, attributes))
                statuses = tuple(_raw_value(b, raw_cache) for b in status)
                fields = (tids, sids, parents, names, kinds, statuses, starts, ends, attributes)
                columns = _columns(fields, keys, partial(_keyed_value, keys, raw_cache), cols)
                if columns is None:
                    return False
                parts.append((block, service, columns))
    except (
        KeyError,
        TypeError,
        AttributeError,
        ValueError,
        OverflowError,
        RecursionError,
        orjson.JSONDecodeError,
    ):
        return False
    for block, service, columns in parts:
        cols.block(block)
        code = cols.code(cols.services, service)
        if columns is not None:
            _add(columns, code, cols)
    return True


def _status_codes(status: tuple[Any, ...]) -> list[int] | None:
    """Each span's status code; None when a status has a message (it becomes an attribute: span by span)."""
    codes = [0] * len(status)
    if any(status):  # most spans have an empty status ({} or none)
        for i, st in enumerate(status):
            if st:
                if st.get("message"):
                    return None
                codes[i] = _STATUS_CODES.get(st.get("code", 0), 0)
    return codes


def _keyed_value(keys: list[bytes], cache: dict[bytes, Any], i: int) -> Any:
    """The parsed value of the i-th raw attribute run."""
    return _raw_value(keys[i], cache)


def _raw_value(raw: Any, cache: dict[bytes, Any]) -> Any:
    """A raw JSON value parsed (None for an absent one), once per distinct value (parsed values are shared:
    read, never changed)."""
    key = bytes(raw)
    if not key:
        return None
    value = cache.get(key)
    if value is None:
        if len(cache) >= _RAW_CACHE_MAX:
            cache.clear()
        value = cache[key] = orjson.loads(key)
    return value


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
        try:
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
        except SPAN_ERRORS as e:
            cols.unreadable(e)


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
