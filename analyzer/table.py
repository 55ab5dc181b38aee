"""SpanTable: the one normalized, columnar table (one row per span) that every reduction reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flyte_otel import semconv

__all__ = [
    "ATTRIBUTES",
    "CATEGORY",
    "COLUMNS",
    "CORE_COLUMNS",
    "END",
    "KIND",
    "NAME",
    "PARENT_ID",
    "PROMOTED",
    "REF_TYPE",
    "SERVICE",
    "SPAN_ID",
    "START",
    "STATUS",
    "TRACE_ID",
    "SpanTable",
]

# Core columns, always present, in this order. Ids are lowercase hex (trace 32 chars, span 16 chars);
# parent_id is "" for a root. Times are int64 ns since the epoch.
TRACE_ID = "trace_id"
SPAN_ID = "span_id"
PARENT_ID = "parent_id"
SERVICE = "service"
NAME = "name"
KIND = "kind"  # internal | server | client | producer | consumer | unspecified
STATUS = "status"  # unset | ok | error
START = "start_ns"
END = "end_ns"
REF_TYPE = "ref_type"  # child_of | follows_from (FOLLOWS_FROM refs and PRODUCER->CONSUMER links do not block)
CATEGORY = "category"  # one of semconv.Category.ALL, from analyzer.classify
ATTRIBUTES = "attributes"  # dict of the attributes not promoted to columns (None when there are none)

# The core columns in order, then every column of the table.
CORE_COLUMNS = (TRACE_ID, SPAN_ID, PARENT_ID, SERVICE, NAME, KIND, STATUS, START, END, REF_TYPE)
# Then one column per promoted attribute, named exactly as the key (e.g. "exec_id", "flyte.node.kind");
# missing values are None / NA. Then CATEGORY and ATTRIBUTES.
PROMOTED = semconv.PROMOTED_ATTRIBUTES
COLUMNS = (*CORE_COLUMNS, *PROMOTED, CATEGORY, ATTRIBUTES)

_CATEGORICAL = (SERVICE, NAME, KIND, STATUS, REF_TYPE, CATEGORY)
_OBJECT = frozenset((*PROMOTED, ATTRIBUTES))  # Python values (str, int, bool, tuple, dict) or None


@dataclass
class SpanTable:
    """A pandas DataFrame with the columns above, plus the warnings gathered while it was built."""

    df: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.df)

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, Sequence[Any] | np.ndarray], warnings: Iterable[str] = ()
    ) -> SpanTable:
        """Build a table from column arrays; absent columns are filled with None, categories are assigned."""
        from analyzer.classify import classify  # late: classify imports this module

        n = len(columns[SPAN_ID]) if SPAN_ID in columns else 0
        data: dict[str, Any] = {}
        absent = np.full(n, None, dtype=object)  # shared by the missing columns (copy-on-write keeps it safe)
        for col in COLUMNS:
            if col == CATEGORY:
                continue
            if col in _OBJECT:
                # object dtype said up front: pandas would otherwise scan each column to infer one
                # (about 50 ms per column per million rows, most of them all-None)
                data[col] = pd.Series(columns.get(col, absent), dtype=object, copy=False)
            elif col in columns:
                data[col] = columns[col]
            elif col in (START, END):
                data[col] = np.zeros(n, dtype=np.int64)
            elif col == PARENT_ID:
                data[col] = [""] * n
            else:
                data[col] = [None] * n
        df = pd.DataFrame(data, copy=False)  # the default copies every column: a million rows, ~30 copies
        df[START] = df[START].astype(np.int64)
        df[END] = df[END].astype(np.int64)
        df.insert(len(df.columns) - 1, CATEGORY, classify(df))
        for col in _CATEGORICAL:
            df[col] = df[col].astype("category")
        return cls(df, list(warnings))

    @classmethod
    def empty(cls) -> SpanTable:
        """A table with every column and no rows."""
        return cls.from_columns({SPAN_ID: []})

    @classmethod
    def concat(cls, tables: Iterable[SpanTable]) -> SpanTable:
        """Stack tables (e.g. one per file or per trace); warnings are kept in order."""
        tables = list(tables)
        if not tables:
            return cls.empty()
        frames = [t.df for t in tables]
        df = pd.concat(frames, ignore_index=True)
        for col in _CATEGORICAL:
            df[col] = df[col].astype("category")
        return cls(df, [w for t in tables for w in t.warnings])

    @property
    def duration_ns(self) -> pd.Series:
        """end - start per span, in ns."""
        return self.df[END] - self.df[START]
