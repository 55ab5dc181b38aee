"""The reductions' defaults that `otel-fold --help` shows, in a module that imports nothing.

The reductions themselves import numpy and pandas; the command line reads their defaults from here, so that
building its parser loads neither. `reduce.fold` and `reduce.diff` use (and export) the same constants.
"""

from __future__ import annotations

__all__ = ["DEFAULT_COLLAPSE", "DEFAULT_LEVEL", "DEFAULT_NOISE"]

# More alike siblings than this become one line of the fold, unless the caller says otherwise.
DEFAULT_COLLAPSE = 20
# The diff's noise band around a ratio of 1: a change within ±5% is never called a regression.
DEFAULT_NOISE = 0.05
# The diff's false discovery rate over all the values of one diff (Benjamini-Yekutieli): at 0.05, two
# benchmarks of one profile flag a value in about 1 diff in 100 or fewer (docs/diff.md has the measurements).
DEFAULT_LEVEL = 0.05
