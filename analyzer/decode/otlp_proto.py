"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` (same wire layout: field 1 = resource_spans).

This is the hot path of the analyzer (a million spans). `Records` parses each record with a *view* of
TracesData in which ``ScopeSpans.spans`` is declared ``bytes`` (same wire format), so upb hands back each
span serialized, and the spans of many records are read together, a field at a time, by _span_wire
(numpy); distinct names, statuses and attribute runs are decoded once each. Input it does not handle
goes through `decode_message`: one pass over the spans of a view in which ``Span.attributes`` and
``Span.status`` are ``bytes``, appending to column lists, each span's tuple of serialized KeyValues decoded
once per distinct attribute set (a memo) instead of building three message wrappers per attribute.
"""

from __future__ import annotations

import binascii
import bisect
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from analyzer.decode import _lenient_proto, _span_wire
from analyzer.decode._columns import NO_REF, Columns
from analyzer.decode.otlp_json import SERVICE_NAME, STATUS_DESCRIPTION
from analyzer.errors import DecodeError

_ZERO_SPAN_ID = bytes(8)
# message -> fields a view keeps serialized
_AS_BYTES = {"Span": ("attributes", "status")}
_SPANS_AS_BYTES = {"ScopeSpans": ("spans",)}
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
TracesDataView = _message(_VIEW, "TracesData")
_SpanView = _message(_VIEW, "Span")  # reads a run of serialized attributes back into KeyValue bytes
# Each span left serialized: the spans are walked together by _span_wire
_TracesDataSpans = _message(_view_pool(trace_pb2.DESCRIPTOR, _SPANS_AS_BYTES), "TracesData")


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
    row = len(cols.span_id)
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


class Records:
    """Decodes many protobuf records into `cols`: ``add`` each record in order, then ``close``.

    Spans are gathered across records and walked together by _span_wire; a batch it finds unusual (or a
    record upb refuses) goes through `parse` + `decode_message` instead, record by record, so the messages
    and warnings are theirs.
    """

    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self._records: list[tuple[bytes, str]] = []
        self._spans: list[bytes] = []
        self._scopes: list[tuple[int, int, str]] = []  # (first span in the batch, service code, where)

    def add(self, payload: bytes, where: str = "") -> None:
        """Decode one serialized TracesData (maybe later: rows keep the records' order)."""
        cols = self.cols
        try:
            td = _TracesDataSpans.FromString(payload)
        except ProtoDecodeError:
            self.close()
            decode_message(parse(payload, cols, where), cols, where)
            return
        for ri, rs in enumerate(td.resource_spans):
            service = cols.code(cols.services, _service_name(rs.resource.attributes))
            for si, ss in enumerate(rs.scope_spans):
                self._scopes.append(
                    (len(self._spans), service, f"{where}resource_spans[{ri}].scope_spans[{si}].spans")
                )
                self._spans += ss.spans
        self._records.append((payload, where))
        if len(self._spans) >= _BATCH_SPANS:
            self.close()

    def close(self) -> None:
        """Decode what is gathered."""
        if self._records and not self._decode_batch():
            for payload, where in self._records:
                decode_message(parse(payload, self.cols, where), self.cols, where)
        self._records, self._spans, self._scopes = [], [], []

    def _decode_batch(self) -> bool:
        spans, cols = self._spans, self.cols
        n = len(spans)
        lengths = np.fromiter(map(len, spans), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        buf = np.frombuffer(b"".join([*spans, bytes(_span_wire.PAD)]), dtype=np.uint8)
        sf = _span_wire.walk(buf, ends - lengths, ends)
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
        parents = _span_wire.gather(buf, off[_span_wire.PARENT_SPAN_ID][has_parent], 8)
        has_parent[has_parent] = parents.any(axis=1)  # an all-zero parent id means none
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
        first_rows = [first for first, _, _ in self._scopes]
        for first, _, where in self._scopes:
            cols.block(where, row0 + first)
        first_of_plan = np.empty(len(attribute_runs), dtype=np.int64)
        first_of_plan[plan_codes[::-1]] = np.arange(n)[::-1]
        plan_lut = [
            self._plan(run, first_rows, int(i)) for run, i in zip(attribute_runs, first_of_plan, strict=True)
        ]
        messages = [m for _, m in status_lut]
        for i in np.flatnonzero(np.array([bool(m) for m in messages] or [False])[status_codes]):
            cols.extra.append((row0 + int(i), STATUS_DESCRIPTION, messages[status_codes[i]]))
        parent_id = np.full(n, "", dtype=object)
        parent_id[has_parent] = _hex(_span_wire.gather(buf, off[_span_wire.PARENT_SPAN_ID][has_parent], 8))
        counts = np.diff([*first_rows, n])
        cols.add_rows(
            _trace_ids(_span_wire.gather(buf, off[_span_wire.TRACE_ID], 16)),
            _hex(_span_wire.gather(buf, off[_span_wire.SPAN_ID], 8)),
            parent_id.tolist(),
            {
                "service": np.repeat([svc for _, svc, _ in self._scopes], counts),
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

    def _plan(self, run: bytes, first_rows: list[int], row: int) -> int:
        """The plan of one run of serialized attributes (`row`, of the batch, has it: for messages)."""
        cache: dict[bytes, int] = self.cols.caches.setdefault("otlp_proto.plan_run", {})
        p = cache.get(run)
        if p is None:
            if len(cache) >= _PLAN_CACHE_MAX:
                cache.clear()
            where = self._scopes[bisect.bisect_right(first_rows, row) - 1][2]
            kv_cache: dict[bytes, tuple[str, Any]] = self.cols.caches.setdefault("otlp_proto.kv", {})
            if len(kv_cache) >= _PLAN_CACHE_MAX:
                kv_cache.clear()
            pairs = []
            for b in _SpanView.FromString(run).attributes:
                kv = kv_cache.get(b)
                if kv is None:
                    kv = kv_cache[b] = _attribute(b, self.cols, where)
                pairs.append(kv)
            p = cache[run] = self.cols.add_plan(pairs)
        return p


def _hex(ids: np.ndarray) -> list[str]:
    """Rows of id bytes -> lowercase hex strings (through UTF-32: numpy then makes the strings in C)."""
    text = binascii.hexlify(ids.tobytes())
    return np.frombuffer(text.decode("ascii").encode("utf-32-le"), dtype=f"U{2 * ids.shape[1]}").tolist()


def _trace_ids(ids: np.ndarray) -> list[str]:
    """`_hex` of (n, 16) trace ids, with one string per distinct id (an execution has few)."""
    halves = ids.view("<u8")
    codes, uniques = pd.factorize(halves[:, 0] ^ (halves[:, 1] * np.uint64(0x9E3779B97F4A7C15)))
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes] = np.arange(len(codes))
    if not (ids[first][codes] == ids).all():  # two ids with one hash: no sharing
        return _hex(ids)
    return np.array(_hex(ids[first]), dtype=object)[codes].tolist()


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
