"""Arrow arrays from Python strings and numpy integers, and back, built from their buffers; the few Arrow
kernels the fold path uses.

pyarrow's own conversions (``pa.array``, ``pa.scalar``, ``Array.to_numpy``, and a compute function given a
Python or numpy value) ask pyarrow's pandas shim whether the value is a pandas object, and that imports
pandas: ~0.4 s of a fold's start-up that the fold never uses. These functions make the same arrays from
their buffers, so the fold path (decode, stitch, fold, render) runs without pandas.

The kernels are called by name through ``pyarrow._compute.call_function``, which ``pyarrow.compute`` wraps:
importing ``pyarrow.compute`` (or calling ``Array.cast``, ``take`` or ``dictionary_encode``, which import
it) makes a Python function for each of Arrow's ~300 kernels, about a fifth of a fold's start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

try:
    from pyarrow import _compute
except ImportError:  # a pyarrow that moved its private module: the public one, slower to import
    import pyarrow.compute as _compute

__all__ = [
    "STRING",
    "booleans",
    "cast",
    "coalesce",
    "cut",
    "dictionary_encode",
    "if_else",
    "integers",
    "join",
    "lpad",
    "repeat",
    "strings",
    "take",
    "to_numpy",
]

STRING = pa.large_string()  # the storage of pandas' "str" dtype: 64-bit offsets


def strings(values: Sequence[str]) -> pa.Array:
    """The strings as an Arrow large_string array; TypeError if one is not a str, UnicodeEncodeError if
    one cannot be written as UTF-8 (a lone surrogate)."""
    text = "".join(values)
    data = text.encode("utf-8")
    if len(data) == len(text):  # ASCII: a character is a byte
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    else:
        sizes = np.fromiter((len(v.encode("utf-8")) for v in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data))


def repeat(text: str, n: int) -> pa.Array:
    """`text` n times, as a large_string array (a separator for Arrow's element-wise string kernels)."""
    data = text.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def integers(values: np.ndarray) -> pa.Array:
    """An int64 Arrow array of the values (no copy when they already are contiguous int64)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def booleans(values: np.ndarray) -> pa.Array:
    """A boolean Arrow array of the values (a mask for Arrow's kernels, e.g. ``if_else``)."""
    bits = np.packbits(np.asarray(values, dtype=np.bool_), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def to_numpy(arr: pa.Array) -> np.ndarray:
    """The values of an Arrow integer array without nulls (e.g. dictionary indices), as numpy (a view)."""
    if arr.null_count:
        raise ValueError("to_numpy: an integer array with nulls")
    kind = "i" if pa.types.is_signed_integer(arr.type) else "u"
    dtype = np.dtype(f"{kind}{arr.type.bit_width // 8}")
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr)]


def cast(values: Any, to: pa.DataType) -> Any:
    """``pyarrow.compute.cast``: the values as type `to` (ArrowInvalid where one does not convert)."""
    return _compute.call_function("cast", [values], _compute.CastOptions.safe(to))


def take(values: Any, indices: pa.Array) -> Any:
    """``pyarrow.compute.take``: the values at `indices` (an Arrow integer array), in that order."""
    return _compute.call_function("take", [values, indices])


def dictionary_encode(values: Any) -> Any:
    """``pyarrow.compute.dictionary_encode``: the distinct values in order of first appearance, and a code per
    value (``.dictionary``, ``.indices``)."""
    return _compute.call_function("dictionary_encode", [values])


def lpad(values: Any, width: int, padding: str = " ") -> Any:
    """``pyarrow.compute.utf8_lpad``: each string padded on the left to `width` characters."""
    return _compute.call_function("utf8_lpad", [values], _compute.PadOptions(width, padding))


def cut(values: Any, start: int, stop: int = sys.maxsize) -> Any:
    """``pyarrow.compute.utf8_slice_codeunits``: characters start..stop-1 of each string."""
    return _compute.call_function("utf8_slice_codeunits", [values], _compute.SliceOptions(start, stop))


def join(*values: Any) -> Any:
    """``pyarrow.compute.binary_join_element_wise``: the strings of each row joined, by the last argument."""
    return _compute.call_function("binary_join_element_wise", list(values))


def if_else(condition: Any, when_true: Any, when_false: Any) -> Any:
    """``pyarrow.compute.if_else``: per row, `when_true`'s value where `condition`, else `when_false`'s."""
    return _compute.call_function("if_else", [condition, when_true, when_false])


def coalesce(values: Any, fill: Any) -> Any:
    """``pyarrow.compute.coalesce``: the values, `fill`'s where they are null."""
    return _compute.call_function("coalesce", [values, fill])
