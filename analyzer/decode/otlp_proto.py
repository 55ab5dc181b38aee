"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` (same wire layout: field 1 = resource_spans).

The walk is the hot path of the analyzer (a million spans): one pass over the spans appending to column
lists through locally bound methods, ids through ``bytes.hex()`` (trace ids memoized: an execution has few),
names interned to codes. The payload is parsed with a *view* of TracesData in which ``Span.attributes``
and ``Span.status`` are declared ``bytes`` (same wire format): upb hands back each serialized KeyValue as
one bytes object, and a span's tuple of them is decoded once per distinct attribute set (a memo), instead
of building three message wrappers per attribute, which alone cost more than the whole parse (measured).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from analyzer.decode import _lenient_proto
from analyzer.decode._columns import NO_REF, Columns
from analyzer.decode.otlp_json import SERVICE_NAME, STATUS_DESCRIPTION
from analyzer.errors import DecodeError

_ZERO_SPAN_ID = bytes(8)
_AS_BYTES = {"Span": ("attributes", "status")}  # message -> fields the view keeps serialized
# Distinct attribute sets remembered; past this (unique values such as blob keys) the memo restarts.
_PLAN_CACHE_MAX = 200_000


def _view_class(file: FileDescriptor) -> type[Message]:
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
                if f.name in _AS_BYTES.get(msg.name, ()):
                    f.type = FieldDescriptor.TYPE_BYTES
                    f.ClearField("type_name")
        pool.Add(proto)

    add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("opentelemetry.proto.trace.v1.TracesData")
    )


TracesDataView = _view_class(trace_pb2.DESCRIPTOR)


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


def _attribute(raw: bytes, cols: Columns, where: str) -> tuple[str, Any]:
    """(key, value) of one serialized KeyValue."""
    try:
        kv = KeyValue.FromString(raw)
    except ProtoDecodeError:
        fixed = _lenient_proto.repair_utf8(raw, KeyValue.DESCRIPTOR)
        if fixed is None:
            raise DecodeError(f"{cols.source}: {where}damaged attribute ({len(raw)} bytes)") from None
        cols.warn(f"{where}invalid UTF-8 in an attribute, replaced with U+FFFD")
        kv = KeyValue.FromString(fixed)
    return kv.key, any_value(kv.value, kv.value.WhichOneof("value"))


def _status(raw: bytes, cols: Columns, where: str) -> tuple[int, str]:
    try:
        st = Status.FromString(raw)
    except ProtoDecodeError:
        fixed = _lenient_proto.repair_utf8(raw, Status.DESCRIPTOR)
        if fixed is None:
            raise DecodeError(f"{cols.source}: {where}damaged span status ({len(raw)} bytes)") from None
        cols.warn(f"{where}invalid UTF-8 in a status message, replaced with U+FFFD")
        st = Status.FromString(fixed)
    return st.code, st.message


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
