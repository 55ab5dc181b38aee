"""Protobuf wire-format encoding of varints, shared by the lenient decoder and the hand-encoded Jaeger requests."""

from __future__ import annotations

__all__ = ["encode_varint"]


def encode_varint(n: int) -> bytes:
    """A non-negative int as a protobuf base-128 varint."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
