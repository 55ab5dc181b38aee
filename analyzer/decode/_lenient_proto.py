"""A slow, pure-Python walk of the protobuf wire format, used only after the fast parser refused a payload.

It says *where* a payload is damaged (upb only says that it is), and it repairs the one damage we accept:
invalid UTF-8 in string fields (proto3 parsers reject it; we replace it with U+FFFD and warn).
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from analyzer.protowire import encode_varint


class _Damage(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


def describe_damage(buf: bytes) -> str:
    """Where and how a TracesData payload is damaged, for an error message."""
    if not buf:
        return "empty protobuf payload"
    try:
        _rewrite(buf, 0, len(buf), TracesData.DESCRIPTOR, [False])
    except _Damage as d:
        return f"damaged protobuf at byte {d.offset}: {d}"
    return f"invalid protobuf TracesData ({len(buf)} bytes)"


def repair_utf8(buf: bytes, desc: Descriptor = TracesData.DESCRIPTOR) -> bytes | None:
    """The payload with invalid UTF-8 in string fields replaced, or None if that is not what is wrong."""
    changed = [False]
    try:
        fixed = _rewrite(buf, 0, len(buf), desc, changed)
    except _Damage:
        return None
    return fixed if changed[0] else None


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise _Damage(start, "truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise _Damage(start, "varint longer than 10 bytes")


_FIXED = {1: 8, 5: 4}  # wire type -> width


def _rewrite(buf: bytes, pos: int, end: int, desc: Descriptor, changed: list[bool]) -> bytes:
    out = bytearray()
    while pos < end:
        tag_at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Damage(tag_at, "field number 0")
        if wire == 0:
            _, pos = _varint(buf, pos, end)
            out += buf[tag_at:pos]
        elif wire in _FIXED:
            pos += _FIXED[wire]
            if pos > end:
                raise _Damage(
                    tag_at, f"field {number} needs {_FIXED[wire]} bytes, only {end - pos + _FIXED[wire]}"
                )
            out += buf[tag_at:pos]
        elif wire == 2:
            length, body = _varint(buf, pos, end)
            if body + length > end:
                raise _Damage(
                    tag_at, f"field {number} of {desc.name} claims {length} bytes, {end - body} remain"
                )
            fd = desc.fields_by_number.get(number)
            out += buf[tag_at:pos] + _rewrite_len(buf, pos, body, body + length, fd, changed)
            pos = body + length
        else:
            raise _Damage(tag_at, f"wire type {wire} (field {number}) is not valid here")
    return bytes(out)


def _rewrite_len(
    buf: bytes, length_at: int, body: int, end: int, fd: FieldDescriptor | None, changed: list[bool]
) -> bytes:
    """A length-delimited field from its length on: a message rewritten, a string made valid UTF-8, anything
    else as it was."""
    if fd is not None and fd.type == FieldDescriptor.TYPE_MESSAGE:
        sub = _rewrite(buf, body, end, fd.message_type, changed)
        return encode_varint(len(sub)) + sub
    if fd is not None and fd.type == FieldDescriptor.TYPE_STRING:
        raw = buf[body:end]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw.decode("utf-8", "replace").encode("utf-8")
            changed[0] = True
        return encode_varint(len(raw)) + raw
    return buf[length_at:end]
