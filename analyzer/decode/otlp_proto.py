"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` (same wire layout: field 1 = resource_spans).

This is the hot path of the analyzer (a million spans). `decode_records` does not parse the records: it
walks them in place with _span_wire (numpy), the levels above the spans for all records at once, then the
spans' fields many spans at a time; distinct names, statuses and attribute runs are decoded once each.
Small inputs, and input it does not handle, go through `decode_message`: one pass over the spans of a view in which ``Span.attributes`` and
``Span.status`` are ``bytes``, appending to column lists, each span's tuple of serialized KeyValues decoded
once per distinct attribute set (a memo) instead of building three message wrappers per attribute.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from analyzer.decode import _lenient_proto, _span_wire
from analyzer.decode._columns import NO_REF, Columns
from analyzer.decode.otlp_json import SERVICE_NAME, STATUS_DESCRIPTION
from analyzer.errors import DecodeError
from analyzer.ids import hex_ids

_ZERO_SPAN_ID = bytes(8)
# message -> fields a view keeps serialized
_AS_BYTES = {"Span": ("attributes", "status")}
# Spans walked together by _span_wire: enough to make numpy's cost per call small, few enough that the
# arrays stay in the CPU caches (measured: 16k spans, ~3 MB of payload, beat 64k)
_BATCH_SPANS = 16_384
# Distinct attribute sets remembered; past this (unique values such as blob keys) the memo restarts.
_PLAN_CACHE_MAX = 200_000


def _view_pool(
    file: FileDescriptor, as_bytes: Mapping[str, tuple[str, ...]]
) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()

    def add(fd: FileDescriptor) -> None:
        for dep in fd.dependencies:
            try:
                pool.FindFileByName(dep.name)
            except KeyError:
                add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        for msg in proto.message_type:
            for f in msg.field:
                if f.name in as_bytes.get(msg.name, ()):
                    f.type = FieldDescriptor.TYPE_BYTES
                    f.ClearField("type_name")
        pool.Add(proto)

    add(file)
    return pool


def _message(pool: descriptor_pool.DescriptorPool, name: str) -> type[Message]:
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"opentelemetry.proto.trace.v1.{name}"))


_VIEW = _view_pool(trace_pb2.DESCRIPTOR, _AS_BYTES)
_ScopeSpansView = _message(_view_pool(trace_pb2.DESCRIPTOR, {"ScopeSpans": ("spans",)}), "ScopeSpans")
# Inputs smaller than this are decoded span by span: the in-place walk costs ~7 ms a call whatever the
# size (hundreds of numpy calls), the per-span path ~5 µs a span (measured), e.g. one small trace per call
# when a backend's answers are decoded one by one
_SMALL_BYTES = 256 << 10
# ScopeSpans lists longer than this are not walked pass by pass (see _with_long_lists)
_LONG_LIST_BYTES = 1 << 20
TracesDataView = _message(_VIEW, "TracesData")
_SpanView = _message(_VIEW, "Span")  # reads a run of serialized attributes back into KeyValue bytes


def parse(payload: bytes | memoryview, cols: Columns, where: str) -> Message:
    """Parse one serialized TracesData (as the view); invalid UTF-8 in strings is replaced with a warning."""
    try:
        return TracesDataView.FromString(payload)
    except ProtoDecodeError as e:
        fixed = _lenient_proto.repair_utf8(bytes(payload))
        if fixed is not None:
            cols.warn(f"{where}invalid UTF-8 in string fields, replaced with U+FFFD")
            return TracesDataView.FromString(fixed)
        raise DecodeError(
            f"{cols.source}: {where}{_lenient_proto.describe_damage(bytes(payload))} ({e})"
        ) from None


def decode_message(td: Message, cols: Columns, where: str = "") -> None:
    """Append the spans of a parsed TracesDataView to `cols`."""
    caches = cols.caches
    tid_cache: dict[bytes, str] = caches.setdefault("otlp_proto.trace_id", {})
    plan_cache: dict[tuple[bytes, ...], int] = caches.setdefault("otlp_proto.plan", {})
    status_cache: dict[bytes, tuple[int, str]] = caches.setdefault("otlp_proto.status", {b"": (0, "")})
    tids, sids, pids = cols.trace_id.append, cols.span_id.append, cols.parent_id.append
    svc, names, kinds, statuses, refs = (
        cols.service.append, cols.name.append, cols.kind.append, cols.status.append, cols.ref_type.append,
    )  # fmt: skip
    starts, ends, plans, extra = cols.start.append, cols.end.append, cols.plan.append, cols.extra.append
    name_codes, code, block = cols.names, cols.code, cols.block
    zero, unset = _ZERO_SPAN_ID, status_cache[b""]
    row = cols.rows_done()
    for ri, rs in enumerate(td.resource_spans):
        service = code(cols.services, _service_name(rs.resource.attributes))
        for si, ss in enumerate(rs.scope_spans):
            block(f"{where}resource_spans[{ri}].scope_spans[{si}].spans")
            for sp in ss.spans:
                b = sp.trace_id
                tid = tid_cache.get(b)
                if tid is None:
                    tid = tid_cache[b] = b.hex()
                tids(tid)
                sids(sp.span_id.hex())
                b = sp.parent_span_id
                if b and b != zero:
                    pids(b.hex())
                    refs(0)
                else:
                    pids("")
                    refs(NO_REF)
                svc(service)
                name = sp.name
                c = name_codes.get(name)
                names(c if c is not None else code(name_codes, name))
                kinds(sp.kind)
                b = sp.status
                st = unset if not b else status_cache.get(b)
                if st is None:
                    st = status_cache[b] = _status(b, cols, where)
                statuses(st[0])
                if st[1]:
                    extra((row, STATUS_DESCRIPTION, st[1]))
                starts(sp.start_time_unix_nano)
                ends(sp.end_time_unix_nano)
                key = tuple(sp.attributes)  # the serialized KeyValues: spans alike share one plan
                p = plan_cache.get(key)
                if p is None:
                    if len(plan_cache) >= _PLAN_CACHE_MAX:
                        plan_cache.clear()
                    p = plan_cache[key] = cols.add_plan(_attribute(b, cols, where) for b in key)
                plans(p)
                row += 1
    cols.flush()


PAD = _span_wire.PAD  # zero bytes `decode_records` needs after the data


def decode_records(buf: np.ndarray, records: list[tuple[int, int, str]], cols: Columns) -> None:
    """Append the spans of the serialized TracesData at buf[start:end] for each (start, end, where), in order;
    `buf` (uint8) has PAD zero bytes after the last record.

    The records are not parsed: _span_wire walks them in place, TracesData -> ResourceSpans -> ScopeSpans
    for all records at once (a pass per field of the longest message), then the spans' fields ~16k spans
    at a time. Records it finds unusual (or damaged) go through `parse` + `decode_message` instead, record
    by record, so the messages and warnings are theirs.
    """
    if not records:
        return
    if sum(end - start for start, end, _ in records) < _SMALL_BYTES:
        _one_by_one(buf, records, cols)
        return
    starts = np.array([a for a, _, _ in records], dtype=np.int64)
    ends = np.array([b for _, b, _ in records], dtype=np.int64)
    try:
        located = _locate(buf, starts, ends, [w for _, _, w in records], cols)
    except _span_wire.Unusual:
        located = None
    if located is None:
        _one_by_one(buf, records, cols)
        return
    scopes, span_starts, span_ends = located
    by_record = scopes.first_span_of_record
    # slices of whole records, so that a slice the walk refuses can be decoded record by record
    first = 0
    while first < len(records):
        last = int(np.searchsorted(by_record, by_record[first] + _BATCH_SPANS))
        last = min(max(last, first + 1), len(records))
        lo, hi = by_record[first], by_record[last]
        mine = np.flatnonzero((scopes.record >= first) & (scopes.record < last))
        batch = _Batch(cols, buf, span_starts[lo:hi], span_ends[lo:hi], scopes.first_span[mine] - lo,
                       scopes.service[mine], [scopes.where[i] for i in mine])  # fmt: skip
        if not batch.decode():
            _one_by_one(buf, records[first:last], cols)
        first = last


def _one_by_one(buf: np.ndarray, records: list[tuple[int, int, str]], cols: Columns) -> None:
    for start, end, where in records:
        decode_message(parse(buf[start:end].tobytes(), cols, where), cols, where)


@dataclass
class _Scopes:
    """The ScopeSpans lists of a buffer of records, in order."""

    record: np.ndarray  # which record holds it
    first_span: np.ndarray  # index of its first span among all the spans located
    service: np.ndarray  # service code of its resource
    where: list[str]  # position, for messages
    first_span_of_record: np.ndarray  # per record, and one past the last: index of its first span


def _locate(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, wheres: list[str], cols: Columns
) -> tuple[_Scopes, np.ndarray, np.ndarray] | None:
    """Where the spans are: TracesData.resource_spans (1) -> ResourceSpans.resource (1) and .scope_spans
    (2) -> ScopeSpans.spans (2), each level walked for all messages at once. None if a resource, a scope
    or a schema URL is not what upb would take (the per-record path repairs or reports it)."""
    wire = _span_wire
    rs = wire.fields(buf, starts, ends).of(1, wire.LEN)
    rs_fields = wire.fields(buf, rs.body, rs.end)
    ss = rs_fields.of(2, wire.LEN)
    long = (ss.end - ss.body) > _LONG_LIST_BYTES
    short = np.flatnonzero(~long)
    ss_fields = wire.fields(buf, ss.body[short], ss.end[short])
    ss_fields.message = short[ss_fields.message]
    spans = _with_long_lists(buf, ss, np.flatnonzero(long), ss_fields.of(2, wire.LEN))
    for level, number, message in ((rs_fields, 1, Resource), (ss_fields, 1, InstrumentationScope)):
        if not _all_valid(buf, level.of(number, wire.LEN), message):
            return None
    if not (
        _all_valid(buf, rs_fields.of(3, wire.LEN), None) and _all_valid(buf, ss_fields.of(3, wire.LEN), None)
    ):
        return None
    # the service of each ResourceSpans: its resource's service.name (one parse per distinct resource)
    resource = rs_fields.of(1, wire.LEN)
    if len(np.unique(resource.message)) != len(resource.message):
        return None  # a resource written in parts (merged by upb): the per-record path
    service = np.full(len(rs.body), cols.code(cols.services, ""), dtype=np.int64)
    names: dict[bytes, int] = {}
    for m, a, b in zip(resource.message.tolist(), resource.body.tolist(), resource.end.tolist(), strict=True):
        raw = buf[a:b].tobytes()
        code = names.get(raw)
        if code is None:
            code = names[raw] = cols.code(cols.services, _service_name(Resource.FromString(raw).attributes))
        service[m] = code
    n_records = len(starts)
    ss_record = rs.message[ss.message]
    rs_rank = _rank(rs.message)  # ri: place among its record's resource_spans
    ss_rank = _rank(ss.message)  # si: place among its ResourceSpans' scope_spans
    first_span = np.searchsorted(spans.message, np.arange(len(ss.body)))
    first_span_of_record = np.searchsorted(ss_record[spans.message], np.arange(n_records + 1))
    where = [
        f"{wheres[r]}resource_spans[{ri}].scope_spans[{si}].spans"
        for r, ri, si in zip(ss_record.tolist(), rs_rank[ss.message].tolist(), ss_rank.tolist(), strict=True)
    ]
    scopes = _Scopes(ss_record, first_span, service[ss.message], where, first_span_of_record)
    return scopes, spans.body, spans.end


def _with_long_lists(
    buf: np.ndarray, ss: _span_wire.Fields, long: np.ndarray, spans: _span_wire.Fields
) -> _span_wire.Fields:
    """`spans` plus the spans of the long ScopeSpans lists: upb reads each (its spans left serialized)
    for their lengths, and the lengths give the offsets, checked against the bytes. The walk would take a
    numpy pass per span of the longest list (~50 µs each: a minute for one list of a million spans)."""
    if not len(long):
        return spans
    found = [(spans.message, spans.body, spans.end)]
    for i in long.tolist():
        a, b = int(ss.body[i]), int(ss.end[i])
        try:
            listed = _ScopeSpansView.FromString(buf[a:b].tobytes()).spans
        except ProtoDecodeError:
            raise _span_wire.Unusual("a ScopeSpans upb refuses") from None
        lengths = np.fromiter(map(len, listed), dtype=np.int64, count=len(listed))
        first = _span_wire.first_field(buf, a, b, 2)
        body, end = _span_wire.consecutive_len_fields(buf, first, 2, lengths, b)
        found.append((np.full(len(body), i, dtype=np.int64), body, end))
    message, body, end = (np.concatenate(c) for c in zip(*found, strict=True))
    # the lists are disjoint and in order: by offset is by list, then by place in it
    order = np.argsort(body)
    n = len(order)
    return _span_wire.Fields(
        message[order], np.full(n, 2), np.full(n, _span_wire.LEN), body[order], end[order]
    )


def _rank(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted array."""
    index = np.arange(len(group))
    first = np.searchsorted(group, group)
    return index - first


def _all_valid(buf: np.ndarray, found: _span_wire.Fields, message: Any) -> bool:
    """Whether every distinct value of these fields parses as `message` (None: is UTF-8 text)."""
    for raw in {buf[a:b].tobytes() for a, b in zip(found.body.tolist(), found.end.tolist(), strict=True)}:
        try:
            message.FromString(raw) if message is not None else raw.decode("utf-8")
        except (ProtoDecodeError, UnicodeDecodeError):
            return False
    return True


class _Batch:
    """Spans of whole records, walked together by _span_wire."""

    def __init__(self, cols: Columns, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 first_span: np.ndarray, service: np.ndarray, where: list[str]) -> None:  # fmt: skip
        self.cols, self.buf, self.starts, self.ends = cols, buf, starts, ends
        self.first_rows = first_span.tolist()  # per scope: its first span in the batch
        self.service, self.where = service, where

    def decode(self) -> bool:
        """Append the spans to cols; False (nothing appended) if the walk finds anything unusual."""
        buf, cols = self.buf, self.cols
        n = len(self.starts)
        sf = _span_wire.walk(buf, self.starts, self.ends)
        if sf is None:
            return False
        ln, off = sf.length, sf.offset
        has_parent = ln[_span_wire.PARENT_SPAN_ID] == 8
        if (
            (ln[_span_wire.TRACE_ID] != 16).any()
            or (ln[_span_wire.SPAN_ID] != 8).any()
            or not (has_parent | (ln[_span_wire.PARENT_SPAN_ID] == 0)).all()
        ):
            return False  # odd ids: the per-span path keeps them for finish() to report with positions
        parents = _span_wire.gather(buf, off[_span_wire.PARENT_SPAN_ID], 8)
        has_parent &= parents.any(axis=1)  # an all-zero parent id means none
        try:
            name_codes, names = _span_wire.distinct(buf, off[_span_wire.NAME], ln[_span_wire.NAME])
            status_codes, statuses = _span_wire.distinct(buf, off[_span_wire.STATUS], ln[_span_wire.STATUS])
            attr_start, attr_end = sf.attributes
            plan_codes, attribute_runs = _span_wire.distinct(buf, attr_start, attr_end - attr_start)
            name_lut = [cols.code(cols.names, b.decode("utf-8")) for b in names]
            status_lut = [_status_strict(b) for b in statuses]
        except (_span_wire.Unusual, UnicodeDecodeError, ProtoDecodeError):
            return False  # the per-span path repairs and warns
        row0 = cols.rows_done()
        for first, where in zip(self.first_rows, self.where, strict=True):
            cols.block(where, row0 + first)
        first_of_plan = np.empty(len(attribute_runs), dtype=np.int64)
        first_of_plan[plan_codes[::-1]] = np.arange(n)[::-1]
        known: dict[bytes, int] = cols.caches.setdefault("otlp_proto.plan_run", {})
        plan_lut = list(map(known.get, attribute_runs))  # most runs were seen in earlier batches
        for k in [k for k, p in enumerate(plan_lut) if p is None]:
            plan_lut[k] = self._new_plan(attribute_runs[k], int(first_of_plan[k]), known)
        messages = [m for _, m in status_lut]
        for i in np.flatnonzero(np.array([bool(m) for m in messages] or [False])[status_codes]):
            cols.extra.append((row0 + int(i), STATUS_DESCRIPTION, messages[status_codes[i]]))
        cols.add_rows(
            hex_ids(_span_wire.gather(buf, off[_span_wire.TRACE_ID], 16)),
            hex_ids(_span_wire.gather(buf, off[_span_wire.SPAN_ID], 8)),
            hex_ids(parents, has_parent),
            {
                "service": np.repeat(self.service, np.diff([*self.first_rows, n])),
                "name": np.array(name_lut, dtype=np.int64)[name_codes],
                "kind": sf.kind,
                "status": np.array([c for c, _ in status_lut], dtype=np.int64)[status_codes],
                "ref_type": np.where(has_parent, 0, NO_REF),
                "start": sf.start,
                "end": sf.end,
                "plan": np.array(plan_lut, dtype=np.int64)[plan_codes],
            },
        )
        return True

    def _new_plan(self, run: bytes, row: int, known: dict[bytes, int]) -> int:
        """The plan of a run of serialized attributes not in `known` yet (`row`, of the batch, has it: for
        messages), remembered there."""
        if len(known) >= _PLAN_CACHE_MAX:
            known.clear()
        where = self.where[bisect.bisect_right(self.first_rows, row) - 1]
        kv_cache: dict[bytes, tuple[str, Any]] = self.cols.caches.setdefault("otlp_proto.kv", {})
        if len(kv_cache) >= _PLAN_CACHE_MAX:
            kv_cache.clear()
        pairs = []
        for b in _SpanView.FromString(run).attributes:
            kv = kv_cache.get(b)
            if kv is None:
                kv = kv_cache[b] = _attribute(b, self.cols, where)
            pairs.append(kv)
        known[run] = p = self.cols.add_plan(pairs)
        return p


def _status_strict(raw: bytes) -> tuple[int, str]:
    st = Status.FromString(raw)
    return st.code, st.message


def _attribute(raw: bytes, cols: Columns, where: str) -> tuple[str, Any]:
    """(key, value) of one serialized KeyValue."""
    kv = _parse_repairing(KeyValue, raw, cols, where, "attribute", "an attribute")
    return kv.key, any_value(kv.value, kv.value.WhichOneof("value"))


def _status(raw: bytes, cols: Columns, where: str) -> tuple[int, str]:
    st = _parse_repairing(Status, raw, cols, where, "span status", "a status message")
    return st.code, st.message


def _parse_repairing(message: Any, raw: bytes, cols: Columns, where: str, what: str, in_what: str) -> Any:
    """Parse raw as `message`; invalid UTF-8 is replaced (with a warning), other damage is a DecodeError."""
    try:
        return message.FromString(raw)
    except ProtoDecodeError:
        fixed = _lenient_proto.repair_utf8(raw, message.DESCRIPTOR)
        if fixed is None:
            raise DecodeError(f"{cols.source}: {where}damaged {what} ({len(raw)} bytes)") from None
        cols.warn(f"{where}invalid UTF-8 in {in_what}, replaced with U+FFFD")
        return message.FromString(fixed)


def _service_name(attributes: Any) -> str:
    for kv in attributes:
        if kv.key == SERVICE_NAME:
            return str(any_value(kv.value, kv.value.WhichOneof("value")))
    return ""


def any_value(v: Any, which: str | None) -> Any:
    """A protobuf AnyValue -> a Python value (arrays become tuples, kvlists dicts)."""
    if which is None:
        return None
    if which == "array_value":
        return tuple(any_value(x, x.WhichOneof("value")) for x in v.array_value.values)
    if which == "kvlist_value":
        return {e.key: any_value(e.value, e.value.WhichOneof("value")) for e in v.kvlist_value.values}
    return getattr(v, which)
