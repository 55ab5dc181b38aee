"""Local sources: the trace store directory (docs/store.md) and a single file of any supported format."""

from __future__ import annotations

from pathlib import Path

from analyzer.errors import AnalyzerError, NotFound
from analyzer.execution import select_execution
from analyzer.load import load, read, read_store
from analyzer.store.files import STORE_ENV, default_store
from analyzer.table import SpanTable

__all__ = ["STORE_ENV", "FileSource", "StoreSource"]


class StoreSource:
    """Every file of a local trace store; an execution is the traces holding a span with its exec_id."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_store()

    def execution(self, exec_id: str) -> SpanTable:
        """The execution's traces, whole, from the store files' records that hold them (their indexes say
        which)."""
        if not self.directory.is_dir():
            raise NotFound(
                f"execution {exec_id}: no trace store at {self.directory} (give --store DIR, --file PATH or set ${STORE_ENV})"
            )
        return select_execution(read_store(self.directory, exec_id), exec_id, str(self.directory))


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
