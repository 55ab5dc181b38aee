"""`analyzer.load`: a file, a store directory or raw bytes -> SpanTable, optionally one execution's spans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analyzer import ids
from analyzer.decode import decode, decode_path
from analyzer.errors import DecodeError, NotFound
from analyzer.store.reader import read_store
from analyzer.table import TRACE_ID, SpanTable
from flyte_otel import semconv


def load(path_or_bytes: str | Path | bytes, *, exec_id: str | None = None) -> SpanTable:
    """Decode a payload (format auto-detected) or a store directory; with `exec_id`, keep its traces only."""
    table = read(path_or_bytes)
    source = _source(path_or_bytes)
    if exec_id is not None:
        return select_execution(table, exec_id, source)
    found = sorted(map(str, table.df[semconv.EXEC_ID].dropna().unique()))
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        table.warnings.append(
            f"{source}: {len(found)} executions in one input ({shown}); pass exec_id to select one"
        )
    return table


def read(path_or_bytes: str | Path | bytes) -> SpanTable:
    """Every span of a payload or a store directory, no execution selected (see `select_execution`)."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return decode(bytes(path_or_bytes))
    path = Path(path_or_bytes)
    if path.is_dir():
        return read_store(path)
    try:
        return decode_path(path)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as e:
        raise DecodeError(f"{path}: cannot read ({e.strerror})") from None


def _source(path_or_bytes: str | Path | bytes) -> str:
    return (
        "<bytes>" if isinstance(path_or_bytes, bytes | bytearray | memoryview) else str(Path(path_or_bytes))
    )


def select_execution(table: SpanTable, exec_id: str, source: str = "<table>") -> SpanTable:
    """The rows of every trace that holds a span of `exec_id` (spans without exec_id, e.g. gRPC events,
    belong through their trace), minus rows explicitly tagged with another execution."""
    df = table.df
    tagged = df[semconv.EXEC_ID].to_numpy(dtype=object)
    own = tagged == exec_id
    if not own.any():
        raise NotFound(f"{source}: no span has {semconv.EXEC_ID}={exec_id!r}")
    trace = ids.codes(df[TRACE_ID])
    holds_own = np.zeros(int(trace.max()) + 2, dtype=bool)
    holds_own[trace[own]] = True  # trace codes (-1: no trace id) of the traces holding a span of exec_id
    keep = holds_own[trace] & (own | pd.isna(tagged))
    if keep.all():  # e.g. a store or file holding one execution: no copy
        return SpanTable(df, list(table.warnings))
    return SpanTable(df[keep].reset_index(drop=True), list(table.warnings))
