"""analyzer.arrays: Arrow arrays built from their buffers hold the values pyarrow's own conversions give, and
building or reading them imports no pandas (pyarrow's conversions do, through its pandas shim)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from analyzer import arrays


def test_strings_hold_the_values_ascii_or_not() -> None:
    values = ["", "a", "span ×3 phase Queued→Running", "naïve", "日本"]
    built = arrays.strings(values)
    assert built.type == pa.large_string()
    assert built.equals(pa.array(values, type=pa.large_string()))
    assert arrays.strings([]).to_pylist() == []


@pytest.mark.parametrize("bad", [["a", None], ["a", 1], ["\ud800"]], ids=["None", "int", "lone surrogate"])
def test_strings_refuse_what_is_not_text(bad: list[object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        arrays.strings(bad)  # type: ignore[arg-type]


def test_repeat_integers_booleans_and_back() -> None:
    assert arrays.repeat("ab", 3).to_pylist() == ["ab"] * 3
    assert arrays.integers(np.array([3, -1, 2**40])).to_pylist() == [3, -1, 2**40]
    assert arrays.booleans(np.array([True, False, True] * 5)).to_pylist() == [True, False, True] * 5
    ints = pa.array([5, 6, 7, 8], type=pa.int32()).slice(1)  # an offset into its buffer
    assert arrays.to_numpy(ints).tolist() == [6, 7, 8]
    with pytest.raises(ValueError, match="nulls"):
        arrays.to_numpy(pa.array([1, None]))


def test_building_and_reading_arrays_imports_no_pandas() -> None:
    code = (
        "import sys, numpy as np, pyarrow.compute as pc\n"
        "from analyzer import arrays\n"
        "s = arrays.strings(['b', 'a', 'b'])\n"
        "arrays.to_numpy(pc.dictionary_encode(s).indices)\n"
        "pc.binary_join_element_wise(s, arrays.repeat(':', 3), arrays.integers(np.arange(3)).cast('large_string'),"
        " arrays.repeat('', 3)).to_pylist()\n"
        "pc.if_else(arrays.booleans(np.array([1, 0, 1])), s, s)\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr
