"""How a timestamp is written for a reader: a format (time of day, date and time, ISO 8601) in a time zone.

Light on purpose: the command line builds its flags and checks a zone from here before anything is fetched; the
renderers turn nanoseconds into text with it (`analyzer.render.stamps`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from analyzer.errors import AnalyzerError

__all__ = ["LOCAL", "TIME_FORMATS", "UTC", "Clock", "moment", "zone"]

# --time-format choices -> what each shows, for --help; the first is the default.
TIME_FORMATS: dict[str, str] = {
    "time": "time of day (21:05:01.123456); the total line gives the date",
    "datetime": "date and time (2026-12-04 21:05:01.123456)",
    "iso": "ISO 8601 with the zone's offset (2026-12-04T21:05:01.123456+00:00)",
}
UTC = "UTC"  # --tz default: what the backends store, and what upstream's propeller logs print
LOCAL = "local"  # --tz value: this machine's zone


def zone(name: str) -> dt.tzinfo | None:
    """The zone `name` names: UTC, an IANA name such as Europe/Paris, or None for local (this machine's zone, as
    the C library applies it, daylight saving time included); AnalyzerError (one line) for anything else."""
    if name.upper() == UTC:
        return dt.UTC
    if name == LOCAL:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AnalyzerError(
            f"unknown time zone {name!r}: UTC, local, or an IANA name such as Europe/Paris"
        ) from None


@dataclass(frozen=True)
class Clock:
    """A timestamp format (a key of TIME_FORMATS) and the zone it is written in, with the zone's name."""

    fmt: str = "time"
    tz: dt.tzinfo | None = dt.UTC  # None: this machine's zone
    tz_name: str = UTC

    def __post_init__(self) -> None:
        if self.fmt not in TIME_FORMATS:
            raise AnalyzerError(f"unknown time format {self.fmt!r}: one of {', '.join(TIME_FORMATS)}")

    @classmethod
    def named(cls, fmt: str, tz_name: str) -> Clock:
        """The clock of --time-format `fmt` and --tz `tz_name` (checked: AnalyzerError for a bad one)."""
        tz = zone(tz_name)
        return cls(fmt, tz, UTC if tz is dt.UTC else tz_name)

    def offset_s(self, epoch_s: int) -> int:
        """The zone's offset from UTC at `epoch_s`, in seconds (daylight saving time included)."""
        offset = moment(epoch_s * 10**9, self.tz).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def describe(self, ns: int) -> str:
        """One moment in full, with the zone: ``2026-12-04 21:05:01.123456 UTC`` (the total line's start)."""
        at = moment(ns, self.tz)
        name = self.tz_name if self.tz is not None else (at.tzname() or LOCAL)
        return f"{at:%Y-%m-%d %H:%M:%S.%f} {name}"


def moment(ns: int, tz: dt.tzinfo | None) -> dt.datetime:
    """The time `ns` since the epoch in zone `tz` (None: this machine's), to the microsecond (cut off, as
    numpy's datetime64 does)."""
    utc = dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).replace(microsecond=ns % 10**9 // 1000)
    return utc.astimezone(tz)
