"""The fold's timestamps made in bulk say what numpy's datetime64 and Python's datetime would."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from analyzer.clock import Clock
from analyzer.render import stamps


def test_time_of_day_is_what_numpy_prints_for_any_time():
    rng = np.random.default_rng(3)
    day = 86_400 * 10**9
    ns = np.concatenate([
        rng.integers(-(10**18), 10**19 // 4, 50_000),  # 1938 to 2049, any nanosecond
        np.array([0, 1, 999, 1_000, day - 1, day, -1, -999, -1_000, -1_001, -day, 1_700_000_000_123_456_789]),
    ])  # fmt: skip
    expected = [s[11:] for s in np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us").tolist()]
    assert stamps.time_of_day(ns).to_pylist() == expected


@pytest.mark.parametrize(
    "tz", ["UTC", "Europe/Paris", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
@pytest.mark.parametrize("fmt", ["time", "datetime", "iso"])
def test_stamps_are_what_python_datetime_writes_in_the_zone(tz, fmt):
    rng = np.random.default_rng(5)
    # any moment of 2024 and every second around its changes of offset (Paris: 31 March, 27 October)
    changes = [1_711_846_800, 1_729_990_800, 1_712_415_600, 1_728_142_200]
    seconds = np.concatenate([rng.integers(1_704_067_200, 1_735_689_600, 2_000),
                              *[np.arange(c - 2, c + 2) for c in changes]])  # fmt: skip
    ns = seconds * 10**9 + rng.integers(0, 10**9, len(seconds))
    clock = Clock.named(fmt, tz)
    write = {
        "time": lambda d: d.strftime("%H:%M:%S.%f"),
        "datetime": lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "iso": lambda d: d.isoformat(timespec="microseconds"),
    }[fmt]
    zone = ZoneInfo(tz)
    moments = [
        dt.datetime.fromtimestamp(int(n) // 10**9, zone).replace(microsecond=int(n) % 10**9 // 1000)
        for n in ns
    ]
    expected = [write(m) for m in moments]
    written = stamps.stamps(ns, clock).to_pylist()
    assert written == expected
    assert {len(w) for w in written} == {stamps.width(clock)}
