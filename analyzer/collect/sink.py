"""Where received requests go: appended to the local store, or discarded (the benchmark's baseline)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from analyzer.framing import JSON_LINES_SUFFIX, PROTO_SUFFIX, frame
from analyzer.store.writer import AppendFile

__all__ = ["Closed", "DiscardSink", "Sink", "StoreSink", "Unwritable"]

_PREFIX = "collect"
_log = logging.getLogger(__name__)


class Closed(Exception):
    """The sink is closed (the receiver is shutting down): the request was not stored."""


class Unwritable(Exception):
    """The store refused the write (disk full, quota, I/O error): the request was not stored, nothing of it
    is in the store, and a later request may succeed."""


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
    at most a truncated last record, which the store reader detects and skips. A write the OS refuses
    (disk full) leaves no partial record (AppendFile cuts it back) and is Unwritable: the sender is told
    to retry, and writing resumes when space returns. The files are fsync'ed on close; a power loss can
    lose what was acknowledged since the last close.
    """

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.spans = 0
        self._lock = threading.Lock()
        self._files: dict[str, AppendFile] = {}
        self._closed = False
        self._failing = False

    def _file(self, suffix: str) -> AppendFile:
        f = self._files.get(suffix)
        if f is None:
            f = self._files[suffix] = AppendFile(self.store_dir, _PREFIX, suffix)
        return f

    def _put(self, suffix: str, data: bytes, spans: int) -> None:
        with self._lock:
            if self._closed:
                raise Closed("receiver is shutting down")
            try:
                f = self._file(suffix)
                f.write(data)
            except OSError as e:
                self._refused(suffix, e)
                raise Unwritable(f"the store cannot take it now ({e.strerror or e}); retry later") from None
            if self._failing:
                self._failing = False
                _log.warning("store %s: writing again", self.store_dir)
            self.spans += spans

    def _refused(self, suffix: str, error: OSError) -> None:
        f = self._files.get(suffix)
        if f is not None and f.broken:  # could not even be cut back: the next request starts a new file
            del self._files[suffix]
        if not self._failing:  # one line per spell of failures, not one per request
            self._failing = True
            _log.warning(
                "store %s: write refused (%s); answering 503/UNAVAILABLE until it succeeds",
                self.store_dir,
                error.strerror or error,
            )

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
        """Refuse further requests, fsync and close the files (a sync the disk refuses is logged)."""
        with self._lock:
            self._closed = True
            for f in self._files.values():
                try:
                    f.close()
                except OSError as e:
                    _log.warning("store %s: %s not synced (%s)", self.store_dir, f.path.name, e.strerror or e)


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
