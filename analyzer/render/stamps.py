"""Timestamps as text in bulk, in a `Clock`'s format and zone: ``21:05:01.123456``, ``2026-12-04 21:05:01.123456``
or ``2026-12-04T21:05:01.123456+01:00``, microseconds cut off as numpy's datetime64 does."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from analyzer import arrays
from analyzer.clock import Clock

__all__ = ["stamps", "time_of_day", "width"]

_MINUTE_NS = 60 * 10**9
_DAY_NS = 86_400 * 10**9
# characters of each format's stamp
_WIDTH = {"time": 15, "datetime": 26, "iso": 32}


def width(clock: Clock) -> int:
    """Characters of every stamp `clock` writes."""
    return _WIDTH[clock.fmt]


def stamps(ns: np.ndarray, clock: Clock) -> pa.Array:
    """Each time in ns since the epoch as `clock` writes it, in its zone (each moment at its own offset, so an
    execution across a daylight saving change reads right)."""
    offset_s = _offsets_s(ns, clock)
    local = ns + offset_s * 10**9
    clock_time = time_of_day(local)
    if clock.fmt == "time":
        return clock_time
    days, at = np.unique(local // _DAY_NS, return_inverse=True)
    dates = arrays.take(
        arrays.strings(np.datetime_as_string(days.astype("datetime64[D]")).tolist()), arrays.integers(at)
    )
    none = arrays.repeat("", len(ns))
    if clock.fmt == "datetime":
        return arrays.join(dates, arrays.repeat(" ", len(ns)), clock_time, none)
    offsets, at = np.unique(offset_s, return_inverse=True)
    signs = arrays.take(arrays.strings([_offset_text(int(s)) for s in offsets.tolist()]), arrays.integers(at))
    return arrays.join(dates, arrays.repeat("T", len(ns)), clock_time, signs, none)


def _offsets_s(ns: np.ndarray, clock: Clock) -> np.ndarray:
    """The zone's offset at each time, in s: looked up once per distinct minute (zones change on the minute)."""
    if clock.tz is dt.UTC or not len(ns):
        return np.zeros(len(ns), dtype=np.int64)
    minutes, at = np.unique(ns // _MINUTE_NS, return_inverse=True)
    per_minute = np.array([clock.offset_s(int(m) * 60) for m in minutes.tolist()], dtype=np.int64)
    return np.asarray(per_minute[at])


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def time_of_day(ns: np.ndarray) -> pa.Array:
    """Time of day with microseconds ("21:05:01.123456"), microseconds cut off as numpy's datetime64 does: the
    digits hhmmssuuuuuu as one number, then cut apart (Arrow's strftime takes 1.3 µs a value, measured)."""
    us = ns // 1_000
    day_us = us % (86_400 * 10**6)
    seconds, micro = np.divmod(day_us, 10**6)
    hours, rest = np.divmod(seconds, 3600)
    digits = arrays.lpad(
        arrays.cast(
            arrays.integers(((hours * 100 + rest // 60) * 100 + rest % 60) * 10**6 + micro), arrays.STRING
        ),
        12,
        "0",
    )
    part = [arrays.cut(digits, a, b) for a, b in ((0, 2), (2, 4), (4, 6), (6, 12))]
    colon, dot, none = (arrays.repeat(s, len(ns)) for s in (":", ".", ""))
    return arrays.join(part[0], colon, part[1], colon, part[2], dot, part[3], none)
