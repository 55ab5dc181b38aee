"""Trace and span id columns (lowercase hex strings, stored as Arrow strings) to and from id bytes, in bulk.

A million spans carry three million ids: a Python string per id, made or hashed, is most of the cost of
decoding or stitching them. Decoders hand over ids already written as hex digits (`hex_rows`), or check
and lower-case hex text in bulk (`hex_text`); the reductions read span ids back as
64-bit numbers (`words`, `span_numbers`) or dictionary-encode id columns (`codes`), hashing Python strings
only when a column holds anything but strings (tables made by hand). An id column is one as
`SpanTable.ids` gives it: Arrow strings, or an object array of the values.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from analyzer import arrays

__all__ = ["TYPE", "codes", "hex_rows", "hex_text", "lengths", "normalize", "span_numbers", "words"]

TYPE = arrays.STRING  # the storage of pandas' "str" dtype
_HEX = np.zeros(256, dtype=bool)  # hex digits, either case
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True
_NOT_HEX = re.compile(r"[^0-9a-f]")


def normalize(raw: str, width: int) -> str | None:
    """An id written as hex (either case, leading zeros maybe trimmed) as `width` lowercase hex digits;
    None if it is not hex or longer than `width`. Jaeger clients write span ids without their leading
    zeros (14 or 15 digits), Jaeger 64-bit trace ids are 16 digits, Tempo's search trims trace ids: one id
    must compare equal however it was written, so every id is padded to its full width here."""
    low = raw.lower()
    if not low or len(low) > width or _NOT_HEX.search(low):
        return None
    return low.rjust(width, "0")


def hex_rows(rows: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """Ids written as lowercase hex, a row of digits each (an (n, width) uint8 array), as Arrow strings, ""
    where `present` is False: the digits are the strings' data as they lie, no Python object per id."""
    n, width = rows.shape
    offsets = np.zeros(n + 1, dtype=np.int64)
    if present is None:
        offsets[1:] = np.arange(width, width * (n + 1), width)
    else:
        rows = rows[present]
        np.cumsum(present * width, out=offsets[1:])
    text = np.ascontiguousarray(rows)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def lengths(arr: pa.Array) -> np.ndarray:
    """The byte length of each string of an Arrow large_string array, from its offsets (no copy of data)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return np.diff(offsets)


def hex_text(values: Sequence[str], width: int, *, allow_empty: bool = False) -> pa.Array | None:
    """Ids written as hex text (either case) as Arrow strings of lowercase hex, checked in bulk; None if
    any is not a string of `width` hex digits (or "" with `allow_empty`): the caller then takes the way
    that reports which one."""
    try:
        arr = arrays.strings(values)
    except (TypeError, ValueError):  # not a str, or not UTF-8 (a lone surrogate)
        return None
    size = lengths(arr)
    if not ((size == width) | (allow_empty & (size == 0))).all():
        return None
    if not size.any():
        return arr
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[: size.sum()]  # a fresh array: data from 0
    if not _HEX[data].all():
        return None
    lower = data | np.uint8(0x20)  # "A"-"F" -> "a"-"f"; digits stay
    if (lower == data).all():
        return arr
    return pa.LargeStringArray.from_buffers(len(arr), arr.buffers()[1], pa.py_buffer(lower.tobytes()))


def codes(*columns: Any) -> np.ndarray:
    """One integer code per value of the id columns laid end to end, equal codes for equal ids; -1 for ""
    or a missing id (Arrow's dictionary encoding: ~3x pandas' factorize of the strings, measured)."""
    found = [_strings(c) for c in columns]
    if None in found:  # not strings: hashed as Python objects
        values = np.concatenate([_objects(c) for c in columns])
        index: dict[Any, int] = {"": -1}
        return np.fromiter(
            (index.setdefault(v, len(index) - 1) for v in values.tolist()), dtype=np.int64, count=len(values)
        )
    encoded = arrays.dictionary_encode(pa.concat_arrays(found))
    out = arrays.to_numpy(encoded.indices).astype(np.int64)
    empty = np.flatnonzero(lengths(encoded.dictionary) == 0)
    if len(empty):
        out[out == empty[0]] = -1
    return out


def words(*columns: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The ids of the columns laid end to end as numbers: (which values are an id (not "" nor missing),
    the ids as big-endian 64-bit words, one row per id, width/16 columns), or None unless every id is
    hex of one width, a multiple of 16 digits."""
    found = [_strings(c) for c in columns]
    if None in found:
        return None
    arr = pa.concat_arrays(found)
    size = lengths(arr)
    present = size > 0
    if not present.any():
        return present, np.zeros((0, 1), dtype=np.uint64)
    width = int(size.max())
    if size[present].min() != width or width % 16:
        return None
    # the present strings, all one width, lie back to back in the data buffer
    first = int(np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset])
    data = memoryview(arr.buffers()[2])[first : first + int(size.sum())]
    try:
        raw = binascii.unhexlify(data)  # either case: hex ids are case-insensitive (OTLP/JSON)
    except binascii.Error:
        return None
    return present, np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, width // 16)


def span_numbers(span_id: Any, parent_id: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Span ids and parent ids as 64-bit numbers: (span ids, parent ids (0 where none), which spans name a
    parent), or None unless every span id, and every parent id given, is 16 hex digits."""
    n = len(span_id)
    found = words(span_id, parent_id) if n else None
    if found is None or found[1].shape[1] != 1 or not found[0][:n].all():
        return None
    present, numbers = found
    has_parent = present[n:]
    parent = np.zeros(n, dtype=np.uint64)
    parent[has_parent] = numbers[n:, 0]
    return numbers[:n, 0], parent, has_parent


def _strings(column: Any) -> pa.Array | None:
    """An id column as one Arrow large_string array (missing ids as ""), or None if it holds anything else."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not isinstance(column, pa.Array):
        values = _objects(column)
        try:
            return arrays.strings(values.tolist())
        except (TypeError, ValueError):  # not strings (or not UTF-8): hashed as Python objects
            return None
    if column.type != TYPE:
        if not pa.types.is_string(column.type):
            return None
        column = arrays.cast(column, TYPE)
    # nulls may hold data in their slots: replaced by "" from an array of empty strings
    return arrays.coalesce(column, arrays.repeat("", len(column))) if column.null_count else column


def _objects(column: Any) -> np.ndarray:
    """An id column's values as an object array, "" where missing (None or NaN)."""
    values = column.to_pylist() if isinstance(column, pa.Array | pa.ChunkedArray) else list(column)
    out = np.empty(len(values), dtype=object)
    out[:] = ["" if v is None or v != v else v for v in values]  # v != v: NaN
    return out
