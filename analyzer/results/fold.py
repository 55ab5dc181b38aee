"""The fold's lines as arrays: which spans of an execution are shown, in what order, which stand for runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.clock import Clock
from analyzer.execution import Execution

__all__ = ["Fold", "FoldTotal", "FoldView"]


@dataclass(frozen=True)
class FoldTotal:
    """The whole execution, whatever lines the fold shows: fold-logs.py's first line ("1 Workflow", first
    enqueue to the last round's end) over the spans."""

    start_ns: int  # the earliest span's start
    duration_ns: int  # from the earliest span's start to the latest span's end
    spans: int
    rounds: int  # propeller rounds (fold-logs.py's "Processing" blocks)
    round_ns: int  # time inside rounds, the rounds' durations added up


@dataclass(frozen=True)
class FoldView:
    """How the fold is written: times by `clock`; with `ids`, each line's trace and span id, and a link to the
    backend's page of its trace when `trace_link` (a URL template with {trace_id} and {span_id}) is set."""

    clock: Clock = Clock()
    ids: bool = False
    trace_link: str | None = None


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
    total: FoldTotal  # the execution as a whole

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def collapsed(self) -> np.ndarray:
        """True for lines that stand for a run of siblings."""
        return self.count > 1
