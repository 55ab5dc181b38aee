"""The fold's text made in bulk says what numpy's datetime64 would."""

from __future__ import annotations

import numpy as np

from analyzer.render import fold_text


def test_time_of_day_is_what_numpy_prints_for_any_time():
    rng = np.random.default_rng(3)
    day = 86_400 * 10**9
    ns = np.concatenate([
        rng.integers(-(10**18), 10**19 // 4, 50_000),  # 1938 to 2049, any nanosecond
        np.array([0, 1, 999, 1_000, day - 1, day, -1, -999, -1_000, -1_001, -day, 1_700_000_000_123_456_789]),
    ])  # fmt: skip
    expected = [s[11:] + " " for s in np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us").tolist()]
    assert fold_text._time_of_day(ns).to_pylist() == expected
