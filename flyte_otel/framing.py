"""The local store's two kinds of file (docs/store.md): which suffix says which, and the protobuf record's frame.

Here rather than in the analyzer because flyte_otel's file exporter writes them and a library never imports
the analyzer; `analyzer.framing` reads them with these same definitions.

``*.binpb``: each record is a 4-byte big-endian length, then that many bytes of a serialized ``TracesData``
(the OpenTelemetry Collector ``file`` exporter's ``format: proto``, exporter/fileexporter/file_writer.go
``exportMessageAsBuffer``). ``*.jsonl``: one OTLP/JSON ``TracesData`` object per line (``format: json``).
"""

from __future__ import annotations

import struct

__all__ = ["JSON_LINES_SUFFIX", "LENGTH", "PROTO_SUFFIX", "SUFFIXES", "frame"]

# The store's two kinds of file: length-prefixed protobuf records, OTLP/JSON lines.
PROTO_SUFFIX = ".binpb"
JSON_LINES_SUFFIX = ".jsonl"
SUFFIXES = (PROTO_SUFFIX, JSON_LINES_SUFFIX)

# A record's length prefix: a big-endian uint32.
LENGTH = struct.Struct(">I")


def frame(payload: bytes) -> bytes:
    """One ``*.binpb`` record: the big-endian uint32 length, then the payload."""
    return LENGTH.pack(len(payload)) + payload
