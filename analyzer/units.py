"""Human units: durations (``850µs``, ``12.345ms``, ``1.2s``, ``1m53s``) and byte sizes, both ways; RFC 3339 times."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from analyzer import arrays

__all__ = ["format_bytes", "format_duration", "format_durations", "parse_duration", "parse_rfc3339"]

_NS_PER: dict[str, int] = {
    "ns": 1,
    "µs": 1_000,
    "μs": 1_000,  # Greek mu, as typed on many keyboards
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MINUTE = _NS_PER["m"]

# (below this many ns, unit, digits: 1 unit = 10**digits ns, decimals shown normally): sub-millisecond
# precision below a minute (offsets in a fold must order events), trailing zeros dropped; the exact form
# shows `digits` decimals, i.e. every ns.
_SCALE: tuple[tuple[int, str, int, int], ...] = (
    (1_000, "ns", 0, 0),
    (1_000_000, "µs", 3, 1),
    (1_000_000_000, "ms", 6, 3),
    (_MINUTE, "s", 9, 6),
)
_MINUTE_DECIMALS = 3  # 1m53.25s: at a minute and above, milliseconds are plenty

_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|µs|μs|us|ms|s|m|h)")
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|µs|μs|us|ms|s|m|h))+")


def format_duration(ns: int, *, exact: bool = False) -> str:
    """``850µs``, ``12.345ms``, ``1.2s``, ``1m53s``; ``exact=True`` keeps every nanosecond (``1m2.000345678s``)."""
    ns = int(ns)
    if ns < 0:
        return "-" + format_duration(-ns, exact=exact)
    for limit, unit, digits, decimals in _SCALE:
        shown = digits if exact else decimals
        # choose the unit by the rounded value, so 999.9996ms prints as 1s, not 1000ms
        if _round_to(ns, 10 ** (digits - shown)) < limit:
            return _fixed(ns, digits, shown) + unit
    decimals = 9 if exact else _MINUTE_DECIMALS
    ns = _round_to(ns, 10 ** (9 - decimals))
    minutes, rest = divmod(ns, _MINUTE)
    seconds = _fixed(rest, 9, decimals)
    head = _minutes_text(minutes)
    return head if seconds == "0" else head + seconds + "s"


def format_durations(ns: np.ndarray) -> list[str]:
    """`format_duration` of each value (int64 ns), in bulk: units and digits chosen with numpy, strings
    made by Arrow's string kernels (a million fold lines need two million of them: ~5 µs each one by one)."""
    ns = np.asarray(ns, dtype=np.int64)
    magnitude = np.abs(ns)
    minute = len(_SCALE)  # the scale past the table: a minute or more, "1h2m3.5s"
    scale = np.full(len(ns), minute, dtype=np.int64)
    rounded = _round_to(magnitude, 10 ** (9 - _MINUTE_DECIMALS))
    for k in range(len(_SCALE) - 1, -1, -1):  # the first scale that fits wins
        limit, _, digits, decimals = _SCALE[k]
        r = _round_to(magnitude, 10 ** (digits - decimals))
        fits = r < limit
        scale[fits], rounded[fits] = k, r[fits]
    minutes, seconds = np.divmod(rounded, _MINUTE)  # of the rows at a minute or more
    rounded = np.where(scale == minute, seconds, rounded)
    whole = np.zeros(len(ns), dtype=np.int64)
    frac = np.zeros(len(ns), dtype=np.int64)
    shown = np.zeros(len(ns), dtype=np.int64)  # decimals shown, trailing zeros dropped
    for k, (digits, decimals) in enumerate([(d, n) for _, _, d, n in _SCALE] + [(9, _MINUTE_DECIMALS)]):
        at = scale == k
        whole[at], frac[at] = np.divmod(rounded[at], 10**digits)
        frac[at] //= 10 ** (digits - decimals)
        shown[at] = decimals
    while (zero := (shown > 0) & (frac % 10 == 0)).any():
        frac[zero] //= 10
        shown[zero] -= 1
    # the decimals with their leading zeros: 10**shown + frac printed, its leading "1" cut off
    decimals_text = arrays.cut(arrays.cast(arrays.integers(frac + 10**shown), arrays.STRING), 1)
    units = arrays.take(arrays.strings([unit for _, unit, _, _ in _SCALE] + ["s"]), arrays.integers(scale))
    number = arrays.join(
        arrays.cast(arrays.integers(whole), arrays.STRING),
        arrays.take(arrays.strings([".", ""]), arrays.integers(shown == 0)),
        decimals_text,
        units,
        arrays.repeat("", len(ns)),
    )
    # at a minute or more: "1h2m" or "2m" (a few distinct ones), then the seconds unless they are 0
    long = scale == minute
    heads, head = np.unique(np.where(long, minutes, -1), return_inverse=True)
    head_text = [_minutes_text(int(m)) if m >= 0 else "" for m in heads.tolist()]
    number = arrays.if_else(arrays.booleans(long & (seconds == 0)), arrays.repeat("", len(ns)), number)
    out: list[str] = arrays.join(
        arrays.take(arrays.strings(head_text), arrays.integers(head.reshape(-1))),
        number,
        arrays.repeat("", len(ns)),
    ).to_pylist()
    for i in np.flatnonzero(ns < 0).tolist():
        out[i] = "-" + out[i]
    return out


def _minutes_text(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if hours else f"{minutes}m"


def parse_duration(text: str) -> int:
    """Nanoseconds from a duration written as :func:`format_duration` prints it (or ``us`` for ``µs``, ``+``/``-`` sign)."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s[1:] if s[:1] in "+-" else s
    if not body or not _WHOLE.fullmatch(body):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 850µs, 12.345ms, 1.2s, 1m53s)")
    total = Decimal(0)
    for number, unit in _TERM.findall(body):
        try:
            total += Decimal(number) * _NS_PER[unit]
        except InvalidOperation as e:  # pragma: no cover - the regex admits only decimal numbers
            raise ValueError(f"not a duration: {text!r}") from e
    return sign * int(total.to_integral_value())


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_rfc3339(text: str) -> int:
    """ns since the epoch from an RFC 3339 time with a zone and up to 9 fractional digits (as protojson and
    Jaeger write them, nanoseconds kept); ValueError if `text` is not one."""
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    whole, frac, tz = m.groups()
    seconds = datetime.fromisoformat(whole + ("+00:00" if tz == "Z" else tz)).timestamp()
    return int(seconds) * 10**9 + int((frac or "0").ljust(9, "0"))


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(n: int) -> str:
    """``512B``, ``1.5KiB``, ``12.3MiB`` (binary units, one decimal)."""
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _round_to(ns: Any, step: int) -> Any:
    """`ns` (an int, or an int64 array) rounded half up to a multiple of `step`."""
    return (ns + step // 2) // step * step


def _fixed(ns: int, digits: int, decimals: int) -> str:
    """ns / 10**digits with at most `decimals` decimals, rounded half up, trailing zeros dropped."""
    whole, frac = divmod(_round_to(ns, 10 ** (digits - decimals)), 10**digits)
    if decimals == 0:
        return str(whole)
    shown = str(frac).rjust(digits, "0")[:decimals].rstrip("0")
    return f"{whole}.{shown}" if shown else str(whole)
