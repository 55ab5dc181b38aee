"""OTLP/JSON (spec: hex ids, integer enums) and Tempo's gogo-jsonpb variant (base64 ids, enum names).

Envelopes: ``{"resourceSpans"}`` (OTLP, Collector file exporter lines), ``{"batches"}`` (Tempo v1 API),
``{"trace": {...}, "status": "PARTIAL"?}`` (Tempo v2 API), ``{"result": {...}}`` (Jaeger api_v3).
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import accumulate, chain, islice, repeat, takewhile
from operator import attrgetter, itemgetter, methodcaller
from typing import Any, NamedTuple

import msgspec
import numpy as np
import orjson
import pyarrow as pa

from analyzer import arrays, ids
from analyzer.decode import _wire
from analyzer.decode._columns import (
    KINDS,
    NO_REF,
    SERVICE_NAME,
    SPAN_ERRORS,
    STATUS_DESCRIPTION,
    STATUSES,
    Columns,
    Where,
    hex_span_id,
    hex_trace_id,
)
from analyzer.errors import DecodeError

__all__ = [
    "SERVICE_NAME",
    "STATUS_DESCRIPTION",
    "any_value",
    "decode_doc",
    "add_lines",
    "add_typed",
    "decode_typed",
    "matches",
    "read_typed",
    "span_lists",
]


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
    _add(columns, np.full(len(spans), service, dtype=np.int64), cols)
    return True


def _add(columns: _Columns, service: np.ndarray, cols: Columns) -> None:
    """Append the rows of `columns`, with each row's service code."""
    trace_id, span_id, parent_id, numeric = columns
    numeric["service"] = service
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
    what is left to `_decode_spans`. Registers names and attribute plans as it goes; a status message
    becomes an attribute (STATUS_DESCRIPTION), as `_decode_spans` makes it."""
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
    statuses, messages = _status_codes(status)
    plans = _plans(keys, messages, attribute_list, cols)
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


def _plans(
    keys: list[bytes], messages: dict[int, Any], attribute_list: Callable[[int], Any], cols: Columns
) -> list[int]:
    """Each span's attribute plan, made once per distinct key (`_columns`) and status message."""
    plan_cache: dict[bytes, int] = cols.caches.setdefault("otlp_json.raw_plan", {})
    if messages:  # a key and a message: two JSON values apart, never equal to the key of attributes alone
        keys = [*keys]
        for i, message in messages.items():
            keys[i] += b"\n" + orjson.dumps(message)
    plans: list[Any] = list(map(plan_cache.get, keys))
    if None in plans:
        add_plan = cols.add_plan
        for i in [i for i, p in enumerate(plans) if p is None]:
            p = plan_cache.get(keys[i])
            if p is None:
                pairs = [(kv["key"], any_value(kv.get("value"))) for kv in attribute_list(i) or ()]
                if i in messages:
                    pairs.append((STATUS_DESCRIPTION, messages[i]))
                p = plan_cache[keys[i]] = add_plan(pairs)
            plans[i] = p
    return plans


def _times(values: tuple[Any, ...]) -> np.ndarray:
    """Times written as decimal strings (the spec) parsed by Arrow; numbers, or what Arrow does not take,
    by int() (OverflowError past int64, ValueError/TypeError for the rest: the per-span path's to word)."""
    try:
        return arrays.to_numpy(arrays.cast(arrays.strings(values), pa.int64()))
    except (TypeError, ValueError, pa.ArrowInvalid):  # not all strings (or not UTF-8), or not all digits
        return np.array(list(map(int, values)), dtype=np.int64)


# The usual OTLP/JSON document, typed for msgspec: it validates the JSON and builds small structs, and
# leaves the attributes, statuses and resources as raw JSON (msgspec.Raw) to be parsed once per distinct
# value. The lists are required: a document without them (another envelope, "instrumentationLibrarySpans",
# empty lists left out) fails here and takes the dict way, as does any value of another type. Not tracked by
# the cyclic GC (gc=False: ~10% faster to build, measured): they hold no cycles.
class _Span(msgspec.Struct, gc=False):
    traceId: Any = None
    spanId: Any = None
    parentSpanId: Any = None
    name: Any = ""
    kind: Any = 0
    startTimeUnixNano: Any = None
    endTimeUnixNano: Any = None
    attributes: msgspec.Raw = msgspec.Raw(b"")
    status: msgspec.Raw = msgspec.Raw(b"")


class _ScopeSpans(msgspec.Struct, gc=False):
    spans: list[_Span]


class _ResourceSpans(msgspec.Struct, gc=False):
    scopeSpans: list[_ScopeSpans]
    resource: msgspec.Raw = msgspec.Raw(b"")


class _TracesData(msgspec.Struct, gc=False):
    resourceSpans: list[_ResourceSpans]
    status: None = None  # "PARTIAL" (Tempo) fails here: decode_doc warns about it


_TYPED = msgspec.json.Decoder(_TracesData)
_RAW_CACHE_MAX = 200_000  # distinct raw values remembered (unique values such as blob keys: it restarts)
_RESOURCES_PER_LENGTH = 16  # resources of one length remembered (processes differ in ids of one length)
_SPAN_FIELDS = attrgetter(*(key for key, _ in _FIELDS))


def decode_typed(data: bytes, cols: Columns, where: str = "") -> bool:
    """Append the spans of one OTLP/JSON ``{"resourceSpans": …}`` document, read into typed structs (about
    5x faster than dicts, measured); False, having appended nothing, for any other JSON, invalid JSON, or
    spans `decode_doc` must read span by span — the caller then parses it the general way."""
    try:
        doc = _TYPED.decode(data)
    except msgspec.DecodeError:  # ValidationError included
        return False
    return add_typed([doc], [where], cols)


def read_typed(payloads: list[bytes], first: int, cols: Columns) -> Sequence[Any]:
    """The typed documents of payloads[first:first + k] (each one JSON document), for `add_typed` to append:
    k lines that repeat their resource and scope around a few spans (`_Run`), or else lines up to the first
    that is not such a document (invalid JSON, another envelope, a status; left out: the caller reads it the
    general way) or that the next call reads as a run."""
    if len(payloads) - first >= _RUN_MIN and len(payloads[first]) <= _RUN_LINE_MAX:
        run = _read_run(payloads, first, cols)
        if run is not None:
            return run
    templates: dict[tuple[bytes, bytes], str] = cols.caches.setdefault("otlp_json.templates", {})
    rest = takewhile(partial(_no_template, templates), islice(payloads, first + 1, None))
    docs: list[Any] = []
    with contextlib.suppress(msgspec.DecodeError):  # ValidationError included
        docs.extend(
            map(_TYPED.decode, chain((payloads[first],), rest))
        )  # keeps those decoded before a failure
    return docs


def add_typed(docs: Sequence[Any], wheres: Sequence[str], cols: Columns) -> bool:
    """Append the spans of documents `read_typed` returned, `wheres[i]` prefixing the positions of
    ``docs[i]``: their columns are made together, so that the cost of a conversion (ids checked in Arrow,
    times parsed, numpy arrays made) is paid once for many documents, not once each. False, having appended
    nothing, if any of their spans must be read span by span: the caller then reads the documents one at a
    time (`decode_typed`, then the general way), which gives what it would have given alone."""
    return _add_parts(partial(_typed_parts, docs, wheres, cols), cols)


def add_lines(docs: Sequence[Any], where: str, numbers: Sequence[int], cols: Columns) -> bool:
    """`add_typed` for what `read_typed` returned from lines of a file numbered `numbers`, their positions
    prefixed by `where` and the line's number."""
    if isinstance(docs, _Run):
        return _add_parts(partial(docs.parts, f"{where}line ", numbers), cols)
    return add_typed(docs, [f"{where}line {n}: " for n in numbers], cols)


# (per block: its position, its first row among the spans; the services to intern, in order; per span, its
# service's index among them; the spans)
_Parts = tuple[list[Where], list[int], list[str], np.ndarray, list[_Span]]


def _add_parts(parts: Callable[[], _Parts], cols: Columns) -> bool:
    """`add_typed` of the documents whose `parts` are those given."""
    raw_cache: dict[bytes, Any] = cols.caches.setdefault("otlp_json.raw", {})
    try:
        wheres, rows, services, service_of, spans = parts()
        columns = _typed_columns(spans, raw_cache, cols) if spans else None
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
    if spans and columns is None:
        return False
    done = cols.rows_done()
    cols.blocks(wheres, [done + row for row in rows])
    codes = list(map(cols.services.get, services))
    if None in codes:
        codes = [cols.code(cols.services, service) for service in services]
    if columns is not None:
        _add(columns, np.array(codes, dtype=np.int64)[service_of], cols)
    return True


def _typed_parts(docs: Sequence[Any], wheres: Sequence[str], cols: Columns) -> _Parts:
    """`add_typed`'s parts of typed documents."""
    blocks, services, span_lists = _typed_blocks(docs, wheres, cols)
    sizes = list(map(len, span_lists))
    rows = list(accumulate(sizes, initial=0))[:-1]
    service_of = np.repeat(np.arange(len(services)), sizes)
    return list(blocks), rows, services, service_of, list(chain.from_iterable(span_lists))


def _typed_blocks(
    docs: Sequence[Any], wheres: Sequence[str], cols: Columns
) -> tuple[list[str], list[str], list[list[_Span]]]:
    """(position, service, spans) of each list of spans of the documents, in order."""
    raw_cache: dict[bytes, Any] = cols.caches.setdefault("otlp_json.raw", {})
    known: dict[int, list[tuple[msgspec.Raw, str]]] = cols.caches.setdefault("otlp_json.service", {})
    blocks: list[str] = []
    services: list[str] = []
    span_lists: list[list[_Span]] = []
    for doc, where in zip(docs, wheres, strict=True):
        for ri, rs in enumerate(doc.resourceSpans):
            service = _service_of(rs.resource, known, raw_cache)
            for si, ss in enumerate(rs.scopeSpans):
                blocks.append(f"{where}resourceSpans[{ri}].scopeSpans[{si}].spans")
                services.append(service)
                span_lists.append(ss.spans)
    return blocks, services, span_lists


def _service_of(
    raw: msgspec.Raw, known: dict[int, list[tuple[msgspec.Raw, str]]], raw_cache: dict[bytes, Any]
) -> str:
    """The service name of a raw resource. A process writes the same resource on every line: resources seen
    are kept by length and compared (a memcmp), not copied and hashed (~0.7 µs a line of ~500 bytes)."""
    same_length = known.setdefault(len(raw), [])
    for seen, service in same_length:
        if seen == raw:
            return service
    if len(same_length) >= _RESOURCES_PER_LENGTH:
        same_length.clear()
    service = _service_name(_raw_value(raw, raw_cache))
    same_length.append((raw.copy(), service))  # a copy: the line it was read from is not kept
    return service


def _typed_columns(spans: list[_Span], raw_cache: dict[bytes, Any], cols: Columns) -> _Columns | None:
    """`_columns` of typed spans (their attributes and statuses still raw JSON)."""
    tids, sids, parents, names, kinds, status, starts, ends, attributes = zip(
        *map(_SPAN_FIELDS, spans), strict=True
    )
    keys = list(map(bytes, attributes))
    statuses = tuple(_raw_value(b, raw_cache) for b in status)
    fields = (tids, sids, parents, names, kinds, statuses, starts, ends, attributes)
    return _columns(fields, keys, partial(_keyed_value, keys, raw_cache), cols)


def _status_codes(status: tuple[Any, ...]) -> tuple[list[int], dict[int, Any]]:
    """Each span's status code, and the messages of the statuses that have one, by span."""
    codes = [0] * len(status)
    messages: dict[int, Any] = {}
    if any(status):  # most spans have an empty status ({} or none)
        for i, st in enumerate(status):
            if st:
                message = st.get("message")
                if message:
                    messages[i] = message
                codes[i] = _STATUS_CODES.get(st.get("code", 0), 0)
    return codes, messages


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


# --- lines that repeat their resource and scope --------------------------------------------------------
# A process that exports its spans one at a time writes its resource and scope again on every line: half of
# each line to parse, and a document to walk, for one span. Such lines are read by a template: the line's
# bytes before its spans (``{"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,"spans":[``) and after
# them, compared byte for byte (`_wire.join_lines`); the spans of many lines are then parsed as one array,
# as if the process had written them in one document.


class _SkeletonScope(msgspec.Struct, gc=False):
    spans: msgspec.Raw


class _SkeletonResource(msgspec.Struct, gc=False):
    scopeSpans: list[_SkeletonScope]


class _Skeleton(msgspec.Struct, gc=False):
    resourceSpans: list[_SkeletonResource]


_SKELETON = msgspec.json.Decoder(_Skeleton)
_SPAN_ARRAY = msgspec.json.Decoder(list[_Span])
_AFTER_NUMBER = ": resourceSpans[0].scopeSpans[0].spans"  # the position of a templated line's spans
_TEMPLATES = 16  # templates remembered (one per process whose lines are interleaved)
_RUN_MIN = 2  # lines left for a run to be tried (one line alone is read as a document)
# Longest line tried as a run: a run checks each line's spans twice (for its bounds, then parsing), a line
# read alone pays for its document. Measured (bench_decode's spans regrouped): 4 spans a line (2.4 KB) read
# 15% faster as runs, 16 (8.4 KB) 5% slower, 64 about as fast.
_RUN_LINE_MAX = 8_192
_AT_BYTE = re.compile(r"\(byte (\d+)\)$")  # where msgspec says JSON is malformed


class _Template(NamedTuple):
    """A line's bytes before its spans and after them, and the service its resource names."""

    prefix: bytes
    suffix: bytes
    service: str


class _Run(Sequence[Any]):
    """Lines read by their templates, as `read_typed` returns documents (one item a line; sliced by lines):
    their spans in order, where each line's spans start (one more than there are lines), each line's
    template, and the templates' services."""

    def __init__(self, spans: list[_Span], first: np.ndarray, which: np.ndarray, services: list[str]) -> None:
        self.spans, self.first, self.which, self.services = spans, first, which, services

    def __len__(self) -> int:
        return len(self.which)

    def __getitem__(self, lines: Any) -> Any:
        a, b, step = lines.indices(len(self))  # only slices: a line alone is read as a document
        if step != 1:
            raise TypeError("a run is sliced by ranges of lines")
        first = self.first[a : b + 1]
        return _Run(self.spans[first[0] : first[-1]], first - first[0], self.which[a:b], self.services)

    def parts(self, before: str, numbers: Sequence[int]) -> _Parts:
        """`add_lines`'s parts, the lines numbered `numbers`, their positions prefixed by `before` and the
        number: one block for all (`_LinePositions`), the services interned in the order of their lines."""
        used, at = np.unique(self.which, return_index=True)
        order = used[np.argsort(at)]
        rank = np.zeros(len(self.services), dtype=np.int64)
        rank[order] = np.arange(len(order))
        service_of = np.repeat(rank[self.which], np.diff(self.first))
        where = _LinePositions(before, numbers, self.first)
        return [where], [0], [self.services[t] for t in order.tolist()], service_of, self.spans


class _LinePositions:
    """The position of the i-th span of a run of lines: its line's, as a block a line would name it."""

    def __init__(self, before: str, numbers: Sequence[int], first: np.ndarray) -> None:
        self.before, self.numbers, self.first = before, numbers, first

    def __call__(self, i: int) -> str:
        line = int(np.searchsorted(self.first[:-1], i, side="right")) - 1
        return f"{self.before}{self.numbers[line]}{_AFTER_NUMBER}[{i - int(self.first[line])}]"


def _read_run(payloads: list[bytes], first: int, cols: Columns) -> _Run | None:
    """The lines from payloads[first] that a template reads, as many as can be read together; None if the
    first cannot be (it matches no template and makes none, or its spans are not a list of JSON objects)."""
    templates: dict[tuple[bytes, bytes], str] = cols.caches.setdefault("otlp_json.templates", {})
    limit = len(payloads) - first
    tried: set[int] = set()  # lines that made a template, or could not
    while limit:
        buf, counts, ends, which = _wire.join_lines(
            payloads, first, limit, [p for p, _ in templates], [s for _, s in templates]
        )
        stop = first + len(counts)
        if len(counts) < limit and stop not in tried:  # a line of another process: its template, and again
            tried.add(stop)
            if _learn(templates, payloads[stop], cols):
                continue
        if not len(counts):
            return None
        try:
            return _run_of(buf, counts, which, list(templates.values()))
        except (msgspec.DecodeError, ValueError) as e:  # a line's spans are not JSON objects joined by commas
            limit = _good_lines(e, ends)
    return None


def _learn(templates: dict[tuple[bytes, bytes], str], line: bytes, cols: Columns) -> bool:
    """Add the template of `line` to `templates` (the oldest forgotten past `_TEMPLATES`); False if it has
    none."""
    template = _template(line, cols)
    if template is None:
        return False
    if len(templates) >= _TEMPLATES:
        del templates[next(iter(templates))]
    templates[template.prefix, template.suffix] = template.service
    return True


def _run_of(buf: bytes, counts: np.ndarray, which: np.ndarray, services: list[str]) -> _Run:
    """The run of lines whose spans `_wire.join_lines` joined into `buf`, `counts[i]` of them line i's, read
    by template which[i] (msgspec's errors if they are not JSON objects; ValueError if not as many as said)."""
    spans = _SPAN_ARRAY.decode(buf)
    first = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    if first[-1] != len(spans):  # a line's part was only white space
        raise ValueError("not as many spans as the lines hold")
    return _Run(spans, first, which, services)


def _good_lines(error: Exception, ends: np.ndarray) -> int:
    """How many of the lines joined to try next, after `error` (`ends`: where each line's part ends in the
    array): those before the byte where msgspec says the JSON is malformed (all before it is valid JSON),
    else half of them; 0 if that leaves fewer than a run (a line alone is read as a document)."""
    at = _AT_BYTE.search(str(error))
    lines = int(np.searchsorted(ends, int(at.group(1)), side="right")) if at else len(ends) // 2
    return lines if _RUN_MIN <= lines < len(ends) else 0


def _template(line: bytes, cols: Columns) -> _Template | None:
    """The template of a line of one resource, one scope and a non-empty list of spans; None for any other
    line. Checked: the template with no spans reads typed, and with a value put between its two parts, it
    reads as a document whose spans are that value and nothing else (the part before could otherwise end
    inside the resource or the scope, were their bytes those of the spans)."""
    try:
        ((scope,),) = (rs.scopeSpans for rs in _SKELETON.decode(line).resourceSpans)
        spans = bytes(scope.spans)
        at = line.find(spans)
        prefix, suffix = line[: at + 1], line[at + len(spans) - 1 :]
        ((probe,),) = (rs.scopeSpans for rs in _SKELETON.decode(prefix + b"0" + suffix).resourceSpans)
        (empty,) = _TYPED.decode(prefix + suffix).resourceSpans
    except (msgspec.DecodeError, ValueError):  # not JSON of that shape, or not one resource and one scope
        return None
    if bytes(probe.spans) != b"[0]" or len(spans) <= 2 or len(empty.scopeSpans) != 1:
        return None
    raw_cache: dict[bytes, Any] = cols.caches.setdefault("otlp_json.raw", {})
    known: dict[int, list[tuple[msgspec.Raw, str]]] = cols.caches.setdefault("otlp_json.service", {})
    try:
        service = _service_of(empty.resource, known, raw_cache)
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):  # left to the document's reader
        return None
    return _Template(prefix, suffix, service)


def _no_template(templates: dict[tuple[bytes, bytes], str], line: bytes) -> bool:
    """Whether no template reads `line`."""
    return not any(line.startswith(prefix) and line.endswith(suffix) for prefix, suffix in templates)
