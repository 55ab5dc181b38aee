"""A run's span durations of one category as a DDSketch, written as one line of text in the benchmark file.

The diff pools the spans of every run of a category to judge its percentiles (docs/diff.md), so the file carries
each run's distribution, not only its p50/p90/p99. The sketch is DataDog's DDSketch (the ``ddsketch`` package's
LogarithmicMapping): a duration ``x`` ns > 0 falls in bucket ``ceil(log_gamma(x))``, gamma = (1 + a) / (1 - a),
and a bucket's value is within a relative error ``a`` of every duration in it. Durations under 1 ns are counted
apart as zeros. The text, version 1:

    ddsketch/1 a=0.01 z=<zeros> <key>:<count> <key>:<count> ...

keys ascending, counts positive. At most MAX_BINS buckets, whatever the span count (a nanosecond to 292
years is 2,163 keys at a = 0.01; beyond MAX_BINS the lowest keys fold into one, as ddsketch's
LogCollapsingLowestDenseDDSketch does), so the file grows with runs and categories, not with spans.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ACCURACY", "MAX_BINS", "VERSION", "Sketch", "SketchError", "keys_of", "parse_sketch", "sketch_of", "values_of",
]  # fmt: skip

# The format's version (the text's first word) and the relative accuracy it is written with.
VERSION = "ddsketch/1"
ACCURACY = 0.01
# The most buckets a sketch keeps (the lowest fold into one beyond it).
MAX_BINS = 2048
_KEY_LIMIT = 10_000  # |key| of any duration an int64 of ns can hold is under 2,200
_HEAD = re.compile(r"ddsketch/(\d+) a=([0-9.eE+-]+) z=(\d+)")
_BIN = re.compile(r"-?\d{1,6}:\d{1,16}")
_PAIRS = re.compile(r"-?\d{1,6}:\d{1,16}(?: -?\d{1,6}:\d{1,16})*")


class SketchError(ValueError):
    """A sketch text that is not version 1 of the format (the message says what is wrong, in one line)."""


@dataclass(frozen=True)
class Sketch:
    """Bucket keys (ascending) and counts of one run's durations, plus the durations under 1 ns."""

    keys: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    zeros: int = 0

    @property
    def count(self) -> int:
        """Durations in the sketch."""
        return int(self.counts.sum()) + self.zeros

    def text(self) -> str:
        """The sketch as its one line of text."""
        bins = " ".join(f"{k}:{c}" for k, c in zip(self.keys.tolist(), self.counts.tolist(), strict=True))
        return f"{VERSION} a={ACCURACY} z={self.zeros}" + (f" {bins}" if bins else "")


def _multiplier() -> float:
    # ddsketch's LogarithmicMapping: key = ceil(log2(x) * multiplier), multiplier = ln 2 / log1p(2a / (1 - a))
    return math.log(2) / math.log1p(2 * ACCURACY / (1 - ACCURACY))


_MULTIPLIER = _multiplier()
_GAMMA = 1 + 2 * ACCURACY / (1 - ACCURACY)


def keys_of(durations: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bucket key of each duration (ns, > 0), as ddsketch's LogarithmicMapping.key computes it."""
    return np.ceil(np.log2(np.asarray(durations, dtype=np.float64)) * _MULTIPLIER).astype(np.int64)


def values_of(keys: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The value each bucket stands for (ddsketch's LogarithmicMapping.value): within ACCURACY of its durations."""
    return np.asarray(2.0 ** (np.asarray(keys, dtype=np.float64) / _MULTIPLIER) * (2.0 / (1 + _GAMMA)))


def sketch_of(durations: npt.ArrayLike) -> Sketch:
    """The sketch of some durations in ns."""
    d = np.asarray(durations, dtype=np.float64)
    positive = d[d >= 1]
    keys, counts = np.unique(keys_of(positive), return_counts=True)
    return _bounded(Sketch(keys.astype(np.int64), counts.astype(np.int64), int(len(d) - len(positive))))


def _bounded(s: Sketch) -> Sketch:
    if len(s.keys) <= MAX_BINS:
        return s
    floor = int(s.keys[-1]) - MAX_BINS + 1
    low = s.keys < floor
    keys = np.concatenate([[floor], s.keys[~low]]).astype(np.int64)
    counts = np.concatenate([[s.counts[low].sum()], s.counts[~low]]).astype(np.int64)
    if len(keys) > 1 and keys[1] == floor:  # the floor bucket held durations already
        keys, counts = keys[1:], np.concatenate([[counts[0] + counts[1]], counts[2:]])
    return Sketch(keys, counts, s.zeros)


def parse_sketch(text: str) -> Sketch:
    """A sketch from its text; SketchError if it is not version 1 of the format written at ACCURACY."""
    words = text.split(" ", 3)
    if words[0] != VERSION:
        raise SketchError(f"expected a sketch starting {VERSION!r}, got {text[:24]!r}")
    m = _HEAD.fullmatch(" ".join(words[:3]))
    if m is None:
        raise SketchError(
            f"expected '{VERSION} a=<accuracy> z=<zeros>' to start the sketch, got {text[:40]!r}"
        )
    if float(m.group(2)) != ACCURACY:
        raise SketchError(f"a sketch of accuracy {m.group(2)}, not {ACCURACY}: not comparable")
    pairs = _pairs(words[3] if len(words) > 3 else "")
    if len(pairs) > MAX_BINS:
        raise SketchError(f"{len(pairs)} buckets, more than the {MAX_BINS} a sketch keeps")
    keys, counts = pairs[:, 0], pairs[:, 1]
    if len(keys) and (np.any(np.diff(keys) <= 0) or np.abs(keys).max() > _KEY_LIMIT):
        raise SketchError(f"bucket keys must ascend, each within ±{_KEY_LIMIT}")
    if len(counts) and (counts.min() < 1 or counts.max() >= 2**53):
        raise SketchError("bucket counts must be positive (and under 2**53)")
    return Sketch(keys, counts, int(m.group(3)))


def _pairs(text: str) -> npt.NDArray[np.int64]:
    """``<key>:<count>`` words as rows (numpy parses them: a benchmark file holds thousands)."""
    words = text.split()
    if not words:
        return np.empty((0, 2), dtype=np.int64)
    if not _PAIRS.fullmatch(" ".join(words)):
        bad = next(w for w in words if not _BIN.fullmatch(w))
        raise SketchError(f"expected <key>:<count>, got {bad[:24]!r}")
    return np.array(" ".join(words).replace(":", " ").split(), dtype=np.int64).reshape(-1, 2)
