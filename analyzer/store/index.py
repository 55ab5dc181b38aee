"""A store file's index (docs/store.md, "The index"): which records hold which traces and executions, so that
folding one execution reads only its records.

An index covers a file up to a record boundary (`covered`) and names the file it was made from (device,
inode, and digests of the first bytes and of the bytes just before `covered`). It is trusted only while all
of these still match, and only up to `covered`: what was appended since is scanned and added, and anything
else (another file at the path after a rotation, a file cut short or rewritten, an index that does not parse)
means a new index. So a stale, torn or missing index gives the right answer, only slower.

It lives beside its file (``NAME.idx``, which the store's readers do not take for data) or, where that
directory cannot be written (a Collector's files, another user's store), in the user's cache directory under
a name derived from the file's path. It is written to a temporary file and renamed into place, so a reader
killed while writing it, or two readers writing it at once, leave a whole index or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from flyte_otel.paths import default_cache

__all__ = ["INDEX_SUFFIX", "NO_END", "NO_START", "ExecutionEntry", "FileIndex", "load_index", "save_index"]

# Suffix of an index beside its data file (not one of framing.SUFFIXES: never read as data).
INDEX_SUFFIX = ".idx"
_FORMAT = "otel-fold store index"
_VERSION = 1
_DIGEST_BYTES = 4096  # bytes hashed at each end of the covered part
# A trace's first start and last end before it has a span: what any int64 time replaces under min and max.
NO_START, NO_END = 2**63 - 1, -(2**63)


@dataclass
class ExecutionEntry:
    """One execution as one file shows it: the traces holding a span tagged with it, and the workflow its
    spans name (the first seen)."""

    traces: set[int] = field(default_factory=set)
    workflow: str | None = None


@dataclass
class FileIndex:
    """What one store file holds up to byte `covered` (see the module docstring)."""

    device: int
    inode: int
    covered: int = 0
    lines: int = 0  # newlines before `covered` (JSON lines): the next line's number is lines + 1
    head: str = ""
    tail: str = ""
    # (offset, end, first line) of each record holding spans, in file order
    records: list[tuple[int, int, int]] = field(default_factory=list)
    unread: list[int] = field(
        default_factory=list
    )  # records the scan could not read: read for every execution
    trace_ids: list[str] = field(default_factory=list)
    trace_records: list[list[int]] = field(default_factory=list)  # per trace, the records holding its spans
    trace_stats: list[list[int]] = field(default_factory=list)  # per trace: [spans, first start, last end]
    executions: dict[str, ExecutionEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # damage between records, said again on every read
    _trace_codes: dict[str, int] = field(default_factory=dict, repr=False)

    def add_record(self, offset: int, end: int, line: int, spans: Iterable[Any] | None) -> None:
        """One record [offset, end) whose first line is `line` (JSON lines; 0 for framed files), with its spans
        as `analyzer.decode.keys.SpanKey`s, or None when they could not be read (then it is read always)."""
        number = len(self.records)
        if spans is None:
            self.records.append((offset, end, line))
            self.unread.append(number)
            return
        seen = False
        for key in spans:
            if not seen:
                self.records.append((offset, end, line))
                seen = True
            code = self._trace(key.trace, number)
            stats = self.trace_stats[code]
            stats[0] += 1
            stats[1] = min(stats[1], key.start_ns)
            stats[2] = max(stats[2], key.end_ns)
            if key.exec_id is not None:
                entry = self.executions.setdefault(key.exec_id, ExecutionEntry())
                entry.traces.add(code)
                entry.workflow = entry.workflow or key.workflow

    def _trace(self, trace: str, record: int) -> int:
        code = self._trace_codes.get(trace)
        if code is None:
            code = self._trace_codes[trace] = len(self.trace_ids)
            self.trace_ids.append(trace)
            self.trace_records.append([record])
            self.trace_stats.append([0, NO_START, NO_END])
        elif self.trace_records[code][-1] != record:
            self.trace_records[code].append(record)
        return code

    def traces_of(self, exec_id: str) -> set[str]:
        """The traces of this file holding a span tagged with `exec_id` (its spans in other files, untagged
        ones included, belong to it through these)."""
        entry = self.executions.get(exec_id)
        return set() if entry is None else {self.trace_ids[code] for code in entry.traces}

    def regions(self, traces: set[str]) -> list[tuple[int, int, int]]:
        """The byte ranges (offset, end, first line) of the records holding spans of `traces`, and of the
        unread ones; adjacent records are merged into one range."""
        numbers = set(self.unread)
        for trace in traces:
            code = self._trace_codes.get(trace)
            if code is not None:
                numbers.update(self.trace_records[code])
        merged: list[tuple[int, int, int]] = []
        for offset, end, line in (self.records[n] for n in sorted(numbers)):
            if merged and merged[-1][1] == offset:
                merged[-1] = (merged[-1][0], end, merged[-1][2])
            else:
                merged.append((offset, end, line))
        return merged

    def holds_any(self, traces: set[str]) -> bool:
        """Whether a record of this file holds a span of one of `traces`."""
        return not traces.isdisjoint(self._trace_codes)

    def unread_regions(self) -> list[tuple[int, int, int]]:
        """The records the scan could not read (they may hold any execution)."""
        return [self.records[n] for n in self.unread]

    def to_json(self) -> bytes:
        """The index as it is saved."""
        return orjson.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "file": [self.device, self.inode, self.covered, self.lines, self.head, self.tail],
                "records": self.records,
                "unread": self.unread,
                "traces": self.trace_ids,
                "trace_records": self.trace_records,
                "trace_stats": self.trace_stats,
                "executions": {k: [sorted(e.traces), e.workflow] for k, e in self.executions.items()},
                "warnings": self.warnings,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> FileIndex:
        """Read a saved index; ValueError (or KeyError, TypeError) if it is not one whole."""
        doc = orjson.loads(data)
        if doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
            raise ValueError("not an index of this version")
        device, inode, covered, lines, head, tail = doc["file"]
        index = cls(
            int(device),
            int(inode),
            int(covered),
            int(lines),
            str(head),
            str(tail),
            [(int(a), int(b), int(c)) for a, b, c in doc["records"]],
            [int(n) for n in doc["unread"]],
            [str(t) for t in doc["traces"]],
            [[int(n) for n in r] for r in doc["trace_records"]],
            [[int(n) for n in s] for s in doc["trace_stats"]],
            {
                str(k): ExecutionEntry({int(c) for c in traces}, workflow)
                for k, (traces, workflow) in doc["executions"].items()
            },
            [str(w) for w in doc["warnings"]],
        )
        if not len(index.trace_ids) == len(index.trace_records) == len(index.trace_stats):
            raise ValueError("trace tables of different lengths")
        index._trace_codes = {t: i for i, t in enumerate(index.trace_ids)}
        return index

    def seal(self, f: Any) -> None:
        """Digest the covered part's ends (`f`: the data file open for binary reading)."""
        self.head, self.tail = _digests(f, self.covered)


def _digests(f: Any, covered: int) -> tuple[str, str]:
    f.seek(0)
    head = hashlib.sha256(f.read(min(covered, _DIGEST_BYTES))).hexdigest()
    start = max(0, covered - _DIGEST_BYTES)
    f.seek(start)
    tail = hashlib.sha256(f.read(covered - start)).hexdigest()
    return head, tail


def _places(path: Path) -> tuple[Path, Path]:
    """Beside the file, then in the cache (named by the file's absolute path: identity is checked inside)."""
    key = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:40]
    return (
        path.with_name(path.name + INDEX_SUFFIX),
        default_cache() / "index" / f"{key}{INDEX_SUFFIX}",
    )


def load_index(path: Path, f: Any, stat: os.stat_result) -> FileIndex | None:
    """The saved index of the data file at `path` (open as `f`, with `stat`) if one still describes it."""
    for place in _places(path):
        try:
            index = FileIndex.from_json(place.read_bytes())
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (
            (index.device, index.inode) == (stat.st_dev, stat.st_ino)
            and index.covered <= stat.st_size
            and _digests(f, index.covered) == (index.head, index.tail)
        ):
            return index
    return None


def save_index(path: Path, index: FileIndex) -> None:
    """Save beside the file, else in the cache; an index that cannot be saved anywhere is only not saved."""
    data = index.to_json()
    for place in _places(path):
        tmp = place.with_name(f".{place.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            place.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, place)
            return
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
