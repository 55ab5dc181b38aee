"""Where received requests go: appended to the local store, or discarded (the benchmark's baseline)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from analyzer.framing import JSON_LINES_SUFFIX, PROTO_SUFFIX, frame
from analyzer.store.writer import AppendFile

__all__ = ["Closed", "DiscardSink", "Sink", "StoreSink"]

_PREFIX = "collect"


class Closed(Exception):
    """The sink is closed (the receiver is shutting down): the request was not stored."""


class Sink(Protocol):
    """Takes validated export requests; `close` flushes."""

    spans: int

    def put_proto(self, raw: bytes, spans: int) -> None:
        """Keep one serialized ExportTraceServiceRequest holding `spans` spans."""
        ...

    def put_json(self, line: bytes, spans: int) -> None:
        """Keep one OTLP/JSON request, already on one line, holding `spans` spans."""
        ...

    def close(self) -> None:
        """Flush and stop taking requests."""
        ...


class StoreSink:
    """Appends to this process's own `*.binpb` and `*.jsonl` files in a store directory.

    Durability: a record is handed to the OS (one unbuffered write under a lock) before the request is
    acknowledged, so killing the receiver loses nothing it acknowledged; a kill during the write leaves
    at most a truncated last record, which the store reader detects and skips. The files are fsync'ed on
    close; a power loss can lose what was acknowledged since the last close.
    """

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.spans = 0
        self._lock = threading.Lock()
        self._files: dict[str, AppendFile] = {}
        self._closed = False

    def _file(self, suffix: str) -> AppendFile:
        f = self._files.get(suffix)
        if f is None:
            f = self._files[suffix] = AppendFile(self.store_dir, _PREFIX, suffix)
        return f

    def _put(self, suffix: str, data: bytes, spans: int) -> None:
        with self._lock:
            if self._closed:
                raise Closed("receiver is shutting down")
            self._file(suffix).write(data)
            self.spans += spans

    def put_proto(self, raw: bytes, spans: int) -> None:
        """Append one ExportTraceServiceRequest (the same bytes as a TracesData) as a `*.binpb` record."""
        self._put(PROTO_SUFFIX, frame(raw), spans)

    def put_json(self, line: bytes, spans: int) -> None:
        """Append one OTLP/JSON line to the `*.jsonl` file."""
        self._put(JSON_LINES_SUFFIX, line, spans)

    @property
    def paths(self) -> list[Path]:
        """The files written so far."""
        return [f.path for f in self._files.values()]

    def close(self) -> None:
        """Refuse further requests, fsync and close the files."""
        with self._lock:
            self._closed = True
            for f in self._files.values():
                f.close()


class DiscardSink:
    """Counts and drops: what a receiver costs without the store."""

    def __init__(self) -> None:
        self.spans = 0
        self._lock = threading.Lock()

    def put_proto(self, raw: bytes, spans: int) -> None:
        """Drop a protobuf request."""
        with self._lock:
            self.spans += spans

    def put_json(self, line: bytes, spans: int) -> None:
        """Drop a JSON request."""
        with self._lock:
            self.spans += spans

    def close(self) -> None:
        """Nothing to flush."""
