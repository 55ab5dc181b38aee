"""The fold's lines as arrays: which spans of an execution are shown, in what order, which stand for runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.execution import Execution

__all__ = ["Fold"]


@dataclass(frozen=True)
class Fold:
    """The lines of a fold, as arrays (one entry per line, in display order)."""

    execution: Execution
    rows: np.ndarray  # table row of the line's span (the first sibling of a collapsed run)
    depth: np.ndarray  # 0 at the top level
    ordinal: np.ndarray  # 1-based place among the displayed siblings (the last part of "1.2.3")
    count: np.ndarray  # 1, or how many siblings a collapsed line stands for
    start_ns: np.ndarray  # start of the span, or of the run's first sibling
    duration_ns: np.ndarray  # the span's duration, or first start -> last end of the run
    p50_ns: np.ndarray  # median duration of the run's siblings (numpy linear interpolation)
    max_ns: np.ndarray  # longest of the run's siblings
    hidden: np.ndarray  # spans below a collapsed run that are summarized, not shown
    node: np.ndarray  # the node the line's span belongs to (its own, else its nearest ancestor's), or None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def collapsed(self) -> np.ndarray:
        """True for lines that stand for a run of siblings."""
        return self.count > 1
