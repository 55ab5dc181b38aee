"""SpanTable: the one normalized, columnar table (one row per span) that every reduction reads.

Its columns are numpy and Arrow arrays: ids as Arrow strings, repeated strings (service, name, ...) as integer
codes into their categories (`Coded`), times as int64, attribute values as Python objects. The fold path
(decode, stitch, fold, render) reads them through `column`, `codes`, `ids` and `take`, without pandas. ``.df``
is the same table as a pandas DataFrame, what the other reductions read: built when first asked for (pandas
imported then) and kept. The notebook's view, with datetimes and typed attributes, is `analyzer.frame`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
import pyarrow as pa

from analyzer import arrays
from analyzer.classify import category
from flyte_otel import semconv

if TYPE_CHECKING:
    import pandas as pd

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
    "Coded",
    "SpanTable",
    "missing",
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

_IDS = frozenset((TRACE_ID, SPAN_ID, PARENT_ID))
_CATEGORICAL = (SERVICE, NAME, KIND, STATUS, REF_TYPE, CATEGORY)
_TIMES = frozenset((START, END))


@dataclass(frozen=True)
class Coded:
    """A column of repeated values (a categorical): per row a code into `categories`, -1 where missing."""

    codes: np.ndarray
    categories: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def factorize(cls, values: Sequence[Any] | np.ndarray, *, sort: bool = False) -> Coded:
        """Codes of the values, categories in order of first appearance (`sort`: in sorted order, as pandas'
        ``astype("category")`` makes them); None and NaN are missing."""
        values = _objects(values)
        codes = np.full(len(values), -1, dtype=np.int64)
        present = ~missing(values)
        codes[present], categories = _first_appearance(values[present].tolist())
        if sort and categories:
            try:
                order = sorted(range(len(categories)), key=categories.__getitem__)
            except TypeError:  # values of kinds that do not order: kept in order of appearance
                return cls(codes, categories)
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            codes[present] = rank[codes[present]]
            categories = tuple(categories[i] for i in order)
        return cls(codes, categories)

    def take(self, rows: np.ndarray) -> Coded:
        """The rows `rows` (indices or a mask), with the same categories."""
        return Coded(self.codes[rows], self.categories)

    def values(self) -> np.ndarray:
        """One Python value per row (an object array), None where missing."""
        labels = np.empty(len(self.categories) + 1, dtype=object)  # the last slot is code -1's
        labels[: len(self.categories)] = self.categories
        out: np.ndarray = labels[self.codes]
        return out


# What a column holds: ids as Arrow strings (or an object array, when a table is made by hand), repeated
# strings as codes, times as int64, attribute values as an object array.
Column: TypeAlias = np.ndarray | Coded | pa.Array | pa.ChunkedArray


def missing(values: np.ndarray) -> np.ndarray:
    """Which values of an object array are missing: None or NaN (as pandas' isna has them)."""
    none: Any = None  # compared element by element (`values == None` reads as a mistake)
    out: np.ndarray = np.equal(values, none) | np.not_equal(values, values)
    return out


class SpanTable:
    """The columns above (numpy and Arrow arrays), plus the warnings gathered while the table was built."""

    def __init__(self, columns: Mapping[str, Column], warnings: Iterable[str] = ()) -> None:
        """A table of exactly the columns of COLUMNS, already in their types; see `from_columns`."""
        self._columns: dict[str, Column] = dict(columns)
        self._frame: pd.DataFrame | None = None
        self.warnings: list[str] = list(warnings)

    def __len__(self) -> int:
        return len(self._column(START))

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, Sequence[Any] | np.ndarray | Column], warnings: Iterable[str] = ()
    ) -> SpanTable:
        """Build a table from column arrays; absent columns are filled with None, categories are assigned.
        Ids may be Arrow strings, repeated strings `Coded`; any other sequence is taken as its values."""
        n = len(columns[SPAN_ID]) if SPAN_ID in columns else 0
        absent = np.full(n, None, dtype=object)  # shared by the missing columns: no one writes to a column
        out: dict[str, Column] = {}
        for col in COLUMNS:
            if col == CATEGORY:
                continue
            given = columns.get(col)
            if given is not None:
                out[col] = _ADOPT[col](given) if col in _ADOPT else _objects(given)
            else:
                out[col] = _ABSENT[col](n) if col in _ABSENT else absent
        event_kind = cast(np.ndarray, out[semconv.EVENT_KIND])  # an attribute column: an object array
        out[CATEGORY] = _categories(_coded(out[NAME]), _coded(out[SERVICE]), event_kind)
        return cls({c: out[c] for c in COLUMNS}, warnings)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, warnings: Iterable[str] = ()) -> SpanTable:
        """A table of a DataFrame with the table's columns (e.g. some rows of another table's ``.df``); its
        ``.df`` is `df` itself."""
        table = cls({}, warnings)
        table._frame = df
        return table

    @classmethod
    def empty(cls) -> SpanTable:
        """A table with every column and no rows."""
        return cls.from_columns({SPAN_ID: []})

    @classmethod
    def concat(cls, tables: Iterable[SpanTable]) -> SpanTable:
        """Stack tables (e.g. one per file or per trace); warnings are kept in order."""
        import pandas as pd

        tables = list(tables)
        if not tables:
            return cls.empty()
        df = pd.concat([t.df for t in tables], ignore_index=True)
        for col in _CATEGORICAL:
            df[col] = df[col].astype("category")
        return cls.from_frame(df, [w for t in tables for w in t.warnings])

    @property
    def df(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (COLUMNS in order; ids "str", repeated strings categorical, times
        int64, attribute values object), built on first use."""
        if self._frame is None:
            self._frame = _frame({c: self._column(c) for c in COLUMNS})
        return self._frame

    @property
    def duration_ns(self) -> np.ndarray:
        """end - start per span, in ns."""
        out: np.ndarray = self.column(END) - self.column(START)
        return out

    def column(self, name: str) -> np.ndarray:
        """A column's values as numpy: times int64, everything else an object array (None where missing)."""
        col = self._column(name)
        if isinstance(col, Coded):
            return col.values()
        if isinstance(col, pa.Array | pa.ChunkedArray):
            return _objects(col.to_pylist())
        return col

    def codes(self, name: str) -> Coded:
        """A categorical column (service, name, kind, status, ref_type, category) as codes."""
        col = self._column(name)
        if not isinstance(col, Coded):
            raise TypeError(f"column {name!r} is not categorical")
        return col

    def ids(self, name: str) -> pa.Array | pa.ChunkedArray | np.ndarray:
        """An id column as it is held (Arrow strings, or an object array in a table made by hand), for
        `analyzer.ids`."""
        col = self._column(name)
        if isinstance(col, Coded):
            raise TypeError(f"column {name!r} is not an id column")
        return col

    def value(self, name: str, row: int) -> Any:
        """One value, as a Python object (None where missing)."""
        col = self._column(name)
        if isinstance(col, Coded):
            code = int(col.codes[row])
            return None if code < 0 else col.categories[code]
        if isinstance(col, pa.Array | pa.ChunkedArray):
            return col[row].as_py()
        value = col[row]
        return value.item() if isinstance(value, np.generic) else value

    def take(self, rows: np.ndarray) -> SpanTable:
        """The table of the rows `rows` (row indices, or a boolean mask), in that order; warnings kept."""
        if rows.dtype == np.bool_:
            rows = np.flatnonzero(rows)
        index = arrays.integers(rows)
        out: dict[str, Column] = {}
        for name in COLUMNS:
            col = self._column(name)
            out[name] = (
                arrays.take(col, index) if isinstance(col, pa.Array | pa.ChunkedArray) else _take(col, rows)
            )
        return SpanTable(out, self.warnings)

    def with_warnings(self, warnings: Iterable[str]) -> SpanTable:
        """A table of the same columns (shared, not copied: a table is never written to) with `warnings`."""
        table = SpanTable(self._columns, warnings)
        table._frame = self._frame
        return table

    def _column(self, name: str) -> Column:
        col = self._columns.get(name)
        if col is None:
            if self._frame is None or name not in COLUMNS:
                raise KeyError(name)
            col = self._columns[name] = _from_series(name, self._frame[name])
        return col


def _first_appearance(values: list[Any]) -> tuple[np.ndarray, tuple[Any, ...]]:
    """A code per value and the distinct values, in order of first appearance: strings by Arrow's dictionary
    encoding (no Python hashing per value), anything else hashed as Python objects."""
    try:
        encoded = arrays.dictionary_encode(arrays.strings(values))
    except (TypeError, ValueError):  # not all strings (or not UTF-8)
        index: dict[Any, int] = {}
        codes = np.fromiter(
            (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
        )
        return codes, tuple(index)
    return arrays.to_numpy(encoded.indices).astype(np.int64), tuple(encoded.dictionary.to_pylist())


def _take(col: np.ndarray | Coded, rows: np.ndarray) -> np.ndarray | Coded:
    return col.take(rows) if isinstance(col, Coded) else col[rows]


def _objects(values: Any) -> np.ndarray:
    """A 1-d object array of the values (np.array would make a list of tuples a 2-d array)."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values) if not isinstance(values, np.ndarray) else values.tolist()
    return out


def _ids(values: Any) -> Column:
    """An id column: Arrow strings as they are; any other sequence as its values."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return _objects(values)


def _coded(values: Any) -> Coded:
    """A categorical column: `Coded` as it is, a pandas Categorical by its codes, else its values coded."""
    if isinstance(values, Coded):
        return values
    if hasattr(values, "codes") and hasattr(values, "categories"):  # a pandas Categorical
        return Coded(np.asarray(values.codes, dtype=np.int64), tuple(values.categories))
    return Coded.factorize(values, sort=True)


def _times(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# How a given column is taken into the table (by column; the attribute columns as object arrays).
_ADOPT: dict[str, Callable[[Any], Column]] = {
    **dict.fromkeys(_IDS, _ids),
    **dict.fromkeys(_CATEGORICAL, _coded),
    **dict.fromkeys(_TIMES, _times),
}
# What stands for an absent column of n rows (the attribute columns: all None).
_ABSENT: dict[str, Callable[[int], Column]] = {
    **dict.fromkeys(_TIMES, lambda n: np.zeros(n, dtype=np.int64)),
    PARENT_ID: lambda n: _objects([""] * n),
    **{c: (lambda n: Coded(np.full(n, -1, dtype=np.int64), ())) for c in _CATEGORICAL},
}


def _categories(name: Coded, service: Coded, event_kind: np.ndarray) -> Coded:
    """The category of each row (`analyzer.classify`); the categories are the ones present, sorted (as pandas'
    ``astype("category")`` would make them)."""
    n = len(name)
    if n == 0:
        return Coded(np.zeros(0, dtype=np.int8), ())
    # The rules are evaluated on the distinct (name, service, event kind) triples, not on every row: a million
    # spans carry a few dozen. The three columns' codes are packed into one int64 per row, and its distinct
    # values found.
    parts = (name, service, Coded.factorize(event_kind))
    key = np.zeros(n, dtype=np.int64)
    for part in parts:
        codes = part.codes.astype(np.int64)
        key = key * (codes.max(initial=0) + 2) + (codes + 1)  # +1: missing (-1) gets its own slot
    _, first_rows, inverse = np.unique(key, return_index=True, return_inverse=True)
    triples = [[_text(p.categories, int(p.codes[r])) for p in parts] for r in first_rows.tolist()]
    present, codes = np.unique([category(*t) for t in triples], return_inverse=True)
    # the rows' codes from the few triples' codes: no string per row
    return Coded(codes.astype(np.int8)[inverse.reshape(-1)], tuple(present.tolist()))


def _text(categories: tuple[Any, ...], code: int) -> str:
    return "" if code < 0 else str(categories[code])


def _frame(columns: dict[str, Column]) -> pd.DataFrame:
    """The DataFrame of the table's columns: ids "str" (Arrow-backed, no copy), categoricals from their codes,
    the rest as they are (object columns said to be object: pandas would otherwise infer each one's type)."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name, col in columns.items():
        if isinstance(col, Coded):
            data[name] = pd.Categorical.from_codes(col.codes, categories=list(col.categories))
        elif isinstance(col, pa.Array | pa.ChunkedArray):
            data[name] = pd.array(col, dtype="str")
        elif name in _IDS:
            data[name] = col.tolist()  # made by hand: typed as pandas types the values
        elif name in _TIMES:
            data[name] = col
        else:
            data[name] = pd.Series(col, dtype=object, copy=False)
    return pd.DataFrame(data, copy=False)  # the default copies every column: a million rows, ~30 copies


def _from_series(name: str, series: pd.Series) -> Column:
    """One column of a DataFrame in the table's types."""
    if name in _CATEGORICAL:
        return _coded(series.astype("category").array)
    if name in _TIMES:
        return series.to_numpy(dtype=np.int64)
    if name in _IDS and series.dtype == "str":
        return pa.array(series.array)
    return series.to_numpy(dtype=object)
