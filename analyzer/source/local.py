"""Local sources: the trace store directory (docs/store.md) and a single file of any supported format."""

from __future__ import annotations

import logging
from pathlib import Path

from analyzer.errors import AnalyzerError, NotFound
from analyzer.execution import select_execution
from analyzer.load import indexed_store, load, read, read_store
from analyzer.results.listing import ExecutionSummary
from analyzer.store.files import STORE_ENV, default_store
from analyzer.table import SpanTable

__all__ = ["STORE_ENV", "FileSource", "StoreSource"]

log = logging.getLogger(__name__)


class StoreSource:
    """Every file of a local trace store; an execution is the traces holding a span with its exec_id."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_store()

    def execution(self, exec_id: str) -> SpanTable:
        """The execution's traces, whole, from the store files' records that hold them (their indexes say
        which)."""
        self._exists(f"execution {exec_id}: ")
        return select_execution(read_store(self.directory, exec_id), exec_id, str(self.directory))

    def trace_link(self) -> str | None:
        """None: a local file has no page to link to."""
        return None

    def executions(self) -> list[ExecutionSummary]:
        """Every execution in the store, newest first, with the files holding it; NotFound if none. From the
        files' indexes: only what they do not cover is decoded (docs/store.md, the index)."""
        from analyzer.source import listing  # pandas: folding an execution does without it

        self._exists("")
        parts = []
        for path, index, rest in indexed_store(self.directory):
            _warn(rest.warnings)
            if index is not None:
                parts.append(listing.indexed(index, str(path)))
            parts.append(listing.partial(rest, str(path)))
        found = listing.combine(parts)
        if not found:
            raise NotFound(f"{self.directory}: no execution (no span has an exec_id)")
        return found

    def _exists(self, what: str) -> None:
        if not self.directory.is_dir():
            raise NotFound(
                f"{what}no trace store at {self.directory} (give --store DIR, --file PATH or set ${STORE_ENV})"
            )


class FileSource:
    """One payload file; without an execution id, every span in it."""

    def __init__(self, path: str | Path | None) -> None:
        if not path:
            raise AnalyzerError("--backend file needs --file PATH")
        self.path = Path(path)
        self._spans: SpanTable | None = None

    def execution(self, exec_id: str | None) -> SpanTable:
        """The execution's traces from the file, or (``exec_id=None``) all of it."""
        if exec_id is None:
            table = load(self.path)
        else:
            if self._spans is None:  # decoded once, however many executions are asked for
                self._spans = read(self.path)
            table = select_execution(self._spans, exec_id, str(self.path))
        if not len(table):
            raise NotFound(f"{self.path}: no spans")
        return table

    def trace_link(self) -> str | None:
        """None: a local file has no page to link to."""
        return None

    def executions(self) -> list[ExecutionSummary]:
        """Every execution in the file, newest first; NotFound if no span has an exec_id."""
        from analyzer.source import listing  # pandas: folding an execution does without it

        if self._spans is None:
            self._spans = read(self.path)
            _warn(self._spans.warnings)
        found = listing.summaries(self._spans, str(self.path))
        if not found:
            raise NotFound(f"{self.path}: no execution (no span has an exec_id)")
        return found


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        log.warning("warning: %s", warning)
