"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` (same wire layout: field 1 = resource_spans).

This is the hot path of the analyzer (a million spans). `decode_records` does not parse the records: the
compiled reader (`_proto_scan`) reads them in place into columns, and the distinct names, statuses,
attribute runs and resources are decoded once each. Small inputs, and records it does not take, go through
`decode_message`: one pass over the spans of a view in which ``Span.attributes`` and ``Span.status`` are
``bytes``, appending to column lists, each span's tuple of serialized KeyValues decoded once per distinct
attribute set (a memo) instead of building three message wrappers per attribute.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from analyzer import ids
from analyzer.decode import _lenient_proto, _proto_scan
from analyzer.decode._columns import NO_REF, SERVICE_NAME, STATUS_DESCRIPTION, Columns
from analyzer.errors import DecodeError

__all__ = ["any_value", "decode_message", "decode_records", "parse"]

_ZERO_SPAN_ID = bytes(8)
# message -> fields a view keeps serialized
_AS_BYTES = {"Span": ("attributes", "status")}
# Distinct attribute sets remembered; past this (unique values such as blob keys) the memo restarts.
_PLAN_CACHE_MAX = 200_000


def _view_pool(file: FileDescriptor, as_bytes: Mapping[str, tuple[str, ...]]) -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool

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


@functools.cache
def _traces_data_view() -> type[Message]:
    """TracesData as the view, made on first use: records the compiled walk reads need none (its pool and
    descriptor_pb2 are a tenth of a fold's start-up)."""
    from google.protobuf import message_factory

    cls: type[Message] = message_factory.GetMessageClass(
        _view_pool(trace_pb2.DESCRIPTOR, _AS_BYTES).FindMessageTypeByName(
            "opentelemetry.proto.trace.v1.TracesData"
        )
    )
    return cls


# Inputs smaller than this are decoded span by span: the compiled walk and the numpy calls around it cost
# ~0.8 ms a call, the per-span path ~20 µs a span more than the walk (measured: equal at ~50 spans, 10 KB)
_SMALL_BYTES = 8 << 10


def parse(payload: bytes | memoryview, cols: Columns, where: str) -> Message:
    """Parse one serialized TracesData (as the view); invalid UTF-8 in strings is replaced with a warning."""
    try:
        return _traces_data_view().FromString(payload)
    except ProtoDecodeError as e:
        fixed = _lenient_proto.repair_utf8(bytes(payload))
        if fixed is not None:
            cols.warn(f"{where}invalid UTF-8 in string fields, replaced with U+FFFD")
            return _traces_data_view().FromString(fixed)
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


def decode_records(
    buf: np.ndarray, records: list[tuple[int, int, str]], cols: Columns, *, skip_damaged: bool = False
) -> None:
    """Append the spans of the serialized TracesData at buf[start:end] (a uint8 buffer) for each
    (start, end, where), in order.

    The records are not parsed: _proto_scan reads them in place into columns, and the distinct names,
    statuses, attribute runs and resources are decoded once each. Records it leaves to upb (unusual or
    damaged), and small inputs, go through `parse` + `decode_message`, record by record, so the messages
    and warnings are theirs. A damaged record is a DecodeError, or with `skip_damaged` (a file of many
    records) a warning, and the records after it are read.
    """
    if not records:
        return
    if sum(end - start for start, end, _ in records) < _SMALL_BYTES:
        _one_by_one(buf, records, cols, skip_damaged)
        return
    scanned = _Scanned(buf, records, cols)
    ok = scanned.scan.ok
    edges = [0, *(np.flatnonzero(ok[1:] != ok[:-1]) + 1).tolist(), len(records)]
    for a, b in itertools.pairwise(edges):  # runs of records read alike, in order
        if ok[a]:
            scanned.add(a, b)
        else:
            _one_by_one(buf, records[a:b], cols, skip_damaged)


def _one_by_one(
    buf: np.ndarray, records: list[tuple[int, int, str]], cols: Columns, skip_damaged: bool
) -> None:
    for start, end, where in records:
        try:
            decode_message(parse(buf[start:end].tobytes(), cols, where), cols, where)
        except DecodeError as e:
            if not skip_damaged:
                raise
            cols.skip_record(e, where, "record")


class _Scanned:
    """Records read by _proto_scan. Their distinct values are decoded first: a record holding one that upb
    would refuse or repair is marked not ok (for the per-record path). Then `add` appends runs of records,
    interning each new name, service and attribute plan where the per-record path would have (its order
    of first appearance), so that both paths give the same table."""

    def __init__(self, buf: np.ndarray, records: list[tuple[int, int, str]], cols: Columns) -> None:
        self.buf, self.cols, self.wheres = buf, cols, [w for _, _, w in records]
        starts = np.array([a for a, _, _ in records], dtype=np.int64)
        self.scan = s = _proto_scan.scan(buf, starts, np.array([b for _, b, _ in records], dtype=np.int64))
        names, statuses = s.distinct(buf, _proto_scan.NAME), s.distinct(buf, _proto_scan.STATUS)
        # each distinct run of attributes as the codes of its KeyValues (equal bytes, equal code), each
        # KeyValue read once (`_key_value`): a run is one plan, but its KeyValues repeat across runs
        self.run_first, self.kv_codes, self.kv_at, self.kv_size = s.key_values(buf)
        self.key_values: list[tuple[str, Any] | None] = [None] * len(self.kv_at)
        self.kv_known = np.zeros(len(self.kv_at), dtype=np.bool_)
        self.names = [_utf8(b) for b in names]
        self.statuses = [_parse_or_none(Status, b) for b in statuses]
        self.services = self._services()
        # code -> the table's code: name interned, plan made, when first seen (`add`)
        self.name_lut, self.plan_lut = (
            np.zeros(len(names), dtype=np.int64),
            np.zeros(len(self.run_first) - 1, dtype=np.int64),
        )
        self.name_known, self.plan_known = (
            np.zeros(len(names), dtype=np.bool_),
            np.zeros(len(self.run_first) - 1, dtype=np.bool_),
        )
        self.status_lut = np.array([st.code if st is not None else 0 for st in self.statuses], dtype=np.int64)
        self.has_message = np.array([st is not None and bool(st.message) for st in self.statuses] or [False])
        hit = np.zeros(s.spans.shape[1], dtype=np.bool_)
        for column, values in ((_proto_scan.NAME, self.names), (_proto_scan.STATUS, self.statuses)):
            bad = [c for c, v in enumerate(values) if v is None]
            if bad:
                hit |= np.isin(s.spans[column], bad)
        s.ok[np.searchsorted(s.first_span, np.flatnonzero(hit), side="right") - 1] = False
        bad_scopes = [r for r, v in enumerate(self.services) if v is None]
        s.ok[np.searchsorted(s.first_scope, bad_scopes, side="right") - 1] = False

    def _services(self) -> list[str | None]:
        """Per scope row: its resource's service name; None where upb would refuse or repair the resource,
        the scope or a schema URL."""
        scopes, buf = self.scan.scopes, self.buf
        checks = (
            (_proto_scan.RESOURCE, _proto_scan.RESOURCE_LEN, Resource),
            (_proto_scan.SCOPE, _proto_scan.SCOPE_LEN, InstrumentationScope),
            (_proto_scan.RS_SCHEMA, _proto_scan.RS_SCHEMA_LEN, None),
            (_proto_scan.SS_SCHEMA, _proto_scan.SS_SCHEMA_LEN, None),
        )
        read: dict[tuple[int, bytes], Any] = {}  # (column, bytes) -> message, text, or None (refused)
        out: list[str | None] = []
        for row in range(scopes.shape[1]):
            values = []
            for at, size, message in checks:
                a = int(scopes[at, row])
                raw = buf[a : a + int(scopes[size, row])].tobytes() if a >= 0 else b""
                if (at, raw) not in read:
                    read[at, raw] = _parse_or_none(message, raw) if message is not None else _utf8(raw)
                values.append(read[at, raw])
            out.append(None if None in values else _service_name(values[0].attributes))
        return out

    def add(self, a: int, b: int) -> None:
        """Append the spans of records a..b-1 (all ok)."""
        s, cols = self.scan, self.cols
        lo, hi = int(s.first_span[a]), int(s.first_span[b])
        spans, scopes = s.spans[:, lo:hi], s.scopes[:, s.first_scope[a] : s.first_scope[b]]
        row0 = cols.rows_done()
        first_rows = (scopes[_proto_scan.FIRST_SPAN] - lo).tolist()
        service = []
        for k, (record, ri, si) in enumerate(
            scopes[[_proto_scan.RECORD, _proto_scan.RS_INDEX, _proto_scan.SS_INDEX]].T.tolist()
        ):
            service.append(cols.code(cols.services, self.services[int(s.first_scope[a]) + k] or ""))
            if si >= 0:
                cols.block(
                    f"{self.wheres[record]}resource_spans[{ri}].scope_spans[{si}].spans", row0 + first_rows[k]
                )
        new, _ = _proto_scan.first_seen(spans[_proto_scan.NAME], self.name_known)
        for c in new.tolist():
            self.name_lut[c] = cols.code(cols.names, self.names[c])
        new, first = _proto_scan.first_seen(spans[_proto_scan.ATTRIBUTES], self.plan_known)
        records = np.searchsorted(s.first_span, first + lo, side="right") - 1  # where each was first seen
        self.plan_lut[new] = self._plans(new, records)
        status = spans[_proto_scan.STATUS]
        for i in np.flatnonzero(self.has_message[status]).tolist():
            cols.extra.append((row0 + i, STATUS_DESCRIPTION, self.statuses[status[i]].message))
        has_parent = spans[_proto_scan.HAS_PARENT].astype(np.bool_)
        cols.add_rows(
            ids.hex_rows(s.trace_hex[lo:hi]),
            ids.hex_rows(s.span_hex[lo:hi]),
            ids.hex_rows(s.parent_hex[lo:hi], has_parent),
            {
                "service": np.repeat(np.array(service, dtype=np.int64), np.diff([*first_rows, hi - lo])),
                "name": self.name_lut[spans[_proto_scan.NAME]],
                "kind": spans[_proto_scan.KIND],
                "status": self.status_lut[status],
                "ref_type": np.where(has_parent, 0, NO_REF),
                "start": spans[_proto_scan.START],
                "end": spans[_proto_scan.END],
                "plan": self.plan_lut[spans[_proto_scan.ATTRIBUTES]],
            },
        )

    def _plans(self, runs: np.ndarray, records: np.ndarray) -> np.ndarray:
        """The attribute plans of the distinct runs of serialized attributes coded `runs`, first seen in
        `records`: made together (`Columns.add_plans`) from the runs' KeyValues, each KeyValue read once."""
        # the runs' KeyValues, laid end to end (their codes), and where each run's begin
        starts = self.run_first[runs]
        lengths = self.run_first[runs + 1] - starts
        first = np.concatenate(([0], np.cumsum(lengths)))
        items = self.kv_codes[np.repeat(starts - first[:-1], lengths) + np.arange(first[-1])]
        new, at = _proto_scan.first_seen(items, self.kv_known)
        record = np.repeat(records, lengths)  # the record each KeyValue is read in, for its messages
        for k, i in zip(new.tolist(), at.tolist(), strict=True):
            self._key_value(k, self.wheres[record[i]])
        return self.cols.add_plans(items, first, self.key_values)

    def _key_value(self, k: int, where: str) -> tuple[str, Any]:
        """The (key, value) of the KeyValue coded `k` (remembered by its bytes across calls)."""
        cache: dict[bytes, tuple[str, Any]] = self.cols.caches.setdefault("otlp_proto.kv", {})
        if len(cache) >= _PLAN_CACHE_MAX:
            cache.clear()
        at = int(self.kv_at[k])
        raw = self.buf[at : at + int(self.kv_size[k])].tobytes()
        kv = cache.get(raw)
        if kv is None:
            kv = cache[raw] = _attribute(raw, self.cols, where)
        self.key_values[k] = kv
        return kv


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _parse_or_none(message: Any, raw: bytes) -> Any:
    try:
        return message.FromString(raw)
    except ProtoDecodeError:
        return None


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
