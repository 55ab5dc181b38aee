"""A diff of two reports: the NEW report's hierarchy with a Change (deltas and a verdict) at every leaf."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.results.document import flatten

__all__ = [
    "ADDED", "CHANGED", "IMPROVED", "REGRESSED", "REMOVED", "TOO_FEW", "WITHIN_NOISE", "Change", "Diff",
]  # fmt: skip

# A change's verdict, and whether the entry is on both sides (changed) or one (added, removed).
REGRESSED, IMPROVED, WITHIN_NOISE, TOO_FEW = "regressed", "improved", "within noise", "too few runs"
CHANGED, ADDED, REMOVED = "changed", "added", "removed"


@dataclass(frozen=True)
class Change:
    """One metric: BASE and NEW values (the medians over runs), NEW - BASE, and the verdict when assessed."""

    kind: str
    status: str  # changed | added | removed
    base: float | None
    new: float | None
    delta: float | None
    verdict: str | None = None  # None: not assessed (one run on a side)
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    q: float | None = None  # p adjusted for the diff's other values (false discovery rate)
    mde: float | None = None  # the smallest ratio (or its inverse) these runs could flag
    runs_needed: int | None = None  # too few runs: how many a side would allow a verdict


@dataclass(frozen=True)
class Diff:
    """The NEW report's hierarchy with a Change at every leaf, plus how it was judged."""

    base_key: str
    new_key: str
    base_runs: int
    new_runs: int
    tree: dict[str, Any]
    noise: float
    assessed: bool
    method: str  # the significance test and thresholds, as stated in the output
    pooled: bool = False  # the benchmark's categories pooled over its workflows, not one entry

    @property
    def status(self) -> str:
        """ADDED or REMOVED when the entry is on one side only (no runs on the other), else CHANGED."""
        return ADDED if not self.base_runs else REMOVED if not self.new_runs else CHANGED

    def changes(self) -> dict[tuple[str, ...], Change]:
        """Every Change by its path."""
        return {p: c for p, c in flatten(self.tree).items() if isinstance(c, Change)}
