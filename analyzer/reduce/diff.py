"""Two reports compared: signed deltas per metric and, with several runs per side, whether each beats the noise.

The unit is one run (DESIGN.md "Methods"): per metric, the ratio of the per-side medians NEW/BASE, a 95%
bootstrap interval of that ratio (whole runs resampled, seeded) and a two-sided Mann-Whitney U p-value.
A change is *regressed*/*improved* only when p < ALPHA and the interval lies wholly outside the noise
band; otherwise *within noise*. A p99 from fewer than MIN_P99_OBSERVATIONS spans per side: *too few runs*.

A document may hold several entries (``otel-fold bench`` writes one ``flyte.benchmark.<workflow>`` each):
`diff_documents` matches them by key, and an entry on one side only is all *added* or all *removed*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
from typing import Any

import numpy as np

from analyzer.errors import AnalyzerError
from analyzer.reduce.defaults import DEFAULT_NOISE
from analyzer.results.diff import (
    ADDED,
    CHANGED,
    IMPROVED,
    REGRESSED,
    REMOVED,
    TOO_FEW,
    WITHIN_NOISE,
    Change,
    Diff,
)
from analyzer.results.document import TEXT, field_kind, flatten, unflatten

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "DEFAULT_NOISE",
    "HIGHER_IS_BETTER",
    "MIN_P99_OBSERVATIONS",
    "RESAMPLES",
    "diff",
    "diff_documents",
    "notable",
]

# The significance test's settings: level, interval, resamples, the fewest spans behind a p99 (the noise band,
# DEFAULT_NOISE, is in reduce/defaults.py with the other defaults `otel-fold --help` shows).
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 2000
MIN_P99_OBSERVATIONS = 100
HIGHER_IS_BETTER = frozenset({"userCode"})  # every other metric: more time, share or work is worse
_SKIP = frozenset({"method", "warnings", "runs", "execution", "absent"})


def _method(status: str, assessed: bool, noise: float) -> str:
    """The significance test and thresholds, as stated in the output."""
    if status != CHANGED:
        return f"entry {status}: on one side only, its values shown, nothing compared"
    if not assessed:
        return "one run on a side: deltas only, significance not assessed"
    return (
        f"unit = one run; ratio of medians NEW/BASE with a {CONFIDENCE:.0%} bootstrap interval "
        f"({RESAMPLES} resamples of whole runs, seeded) and two-sided Mann-Whitney U; "
        f"regressed/improved when p < {ALPHA} and the interval lies outside ±{noise:.0%}; "
        f"p99 from < {MIN_P99_OBSERVATIONS} spans per side: {TOO_FEW}"
    )


def notable(d: Diff) -> Diff:
    """The same diff keeping only what moved: regressed or improved (or, when not assessed, any non-zero
    delta), and everything added or removed; empty branches are dropped."""
    return replace(d, tree=_prune(d.tree, d.assessed))


def _keep(c: Change, assessed: bool) -> bool:
    if c.status != CHANGED:
        return True
    return c.verdict in (REGRESSED, IMPROVED) if assessed else bool(c.delta)


def _prune(tree: Mapping[str, Any], assessed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in tree.items():
        if isinstance(v, Change):
            if _keep(v, assessed):
                out[key] = v
        elif isinstance(v, list):
            items = [
                {name: kept} for item in v for name, sub in item.items() if (kept := _prune(sub, assessed))
            ]
            if items:
                out[key] = items
        elif kept := _prune(v, assessed):
            out[key] = kept
    return out


def diff(
    base: Mapping[str, Any], new: Mapping[str, Any], *, noise: float = DEFAULT_NOISE, seed: int = 0
) -> Diff:
    """Compare two report documents of one entry each (as report.report() builds them), whatever their keys."""
    (bkey, bbody), (nkey, nbody) = next(iter(base.items())), next(iter(new.items()))
    return _entry(str(bkey), bbody, str(nkey), nbody, noise, seed)


def diff_documents(
    base: Mapping[str, Any], new: Mapping[str, Any], *, noise: float = DEFAULT_NOISE, seed: int = 0
) -> list[Diff]:
    """Compare two report documents entry by entry, matched by key; one entry each: compared whatever their keys."""
    if len(base) == 1 and len(new) == 1:  # two executions' reports are keyed by their own ids
        return [diff(base, new, noise=noise, seed=seed)]
    keys = [*base, *(k for k in new if k not in base)]
    return [_entry(str(k), base.get(k), str(k), new.get(k), noise, seed) for k in keys]


def _entry(
    bkey: str,
    bbody: Mapping[str, Any] | None,
    nkey: str,
    nbody: Mapping[str, Any] | None,
    noise: float,
    seed: int,
) -> Diff:
    """One entry of each side compared (None: absent on that side, so every leaf is added or removed)."""
    bruns, nruns = _runs(bbody), _runs(nbody)
    bsum, nsum = _values(bbody or {}), _values(nbody or {})
    _same_shape(nkey, bsum.keys() | nsum.keys())
    bsamples, nsamples = _samples(bruns), _samples(nruns)
    assessed = len(bruns) > 1 and len(nruns) > 1
    rng = np.random.default_rng(seed)  # per entry: an entry's verdicts do not depend on the others
    leaves: dict[tuple[str, ...], Change] = {}
    for path in [*bsum, *(p for p in nsum if p not in bsum)]:
        kind = field_kind(path)
        b, n = bsum.get(path), nsum.get(path)
        if b is None or n is None:
            leaves[path] = Change(kind, REMOVED if n is None else ADDED, b, n, None)
            continue
        change = Change(kind, CHANGED, b, n, n - b)
        if assessed:
            change = _judge(change, path, bsamples, nsamples, noise, rng)
        leaves[path] = change
    d = Diff(bkey, nkey, len(bruns), len(nruns), unflatten(leaves), noise, assessed, method="")
    return replace(d, method=_method(d.status, assessed, noise))


def _same_shape(key: str, paths: Set[tuple[str, ...]]) -> None:
    """Refuse a value on one side where the other has a mapping: one tree cannot show both."""
    for path in paths:
        for i in range(1, len(path)):
            if path[:i] in paths:
                where = ".".join((key, *path[:i]))
                raise AnalyzerError(
                    f"BASE and NEW differ in shape at {where}: a value in one, a mapping in the other"
                )


def _runs(body: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if body is None:
        return []
    runs = body.get("runs")
    return list(runs) if isinstance(runs, list) and runs else [body]


def _values(body: Mapping[str, Any]) -> dict[tuple[str, ...], float]:
    return {
        p: v
        for p, v in flatten(body).items()
        if p[0] not in _SKIP
        and field_kind(p) != TEXT
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
    }


def _samples(runs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[float]]:
    out: dict[tuple[str, ...], list[float]] = {}
    for run in runs:
        for p, v in _values(run).items():
            out.setdefault(p, []).append(float(v))
    return out


def _judge(
    c: Change,
    path: tuple[str, ...],
    bs: Mapping[tuple[str, ...], list[float]],
    ns: Mapping[tuple[str, ...], list[float]],
    noise: float,
    rng: np.random.Generator,
) -> Change:
    b, n = np.asarray(bs.get(path, []), float), np.asarray(ns.get(path, []), float)
    if len(b) < 2 or len(n) < 2:
        return Change(c.kind, c.status, c.base, c.new, c.delta, TOO_FEW)
    ratio = _ratio(float(np.median(n)), float(np.median(b)))
    lo, hi = _bootstrap(b, n, rng)
    p = _p_value(b, n)
    if path[-1] == "p99" and min(_observations(path, bs), _observations(path, ns)) < MIN_P99_OBSERVATIONS:
        verdict = TOO_FEW
    elif p < ALPHA and (lo > 1 + noise or hi < 1 - noise):
        worse = (ratio > 1) != (path[-1] in HIGHER_IS_BETTER)
        verdict = REGRESSED if worse else IMPROVED
    else:
        verdict = WITHIN_NOISE
    return Change(c.kind, c.status, c.base, c.new, c.delta, verdict, ratio, (lo, hi), p)


def _ratio(new: float, base: float) -> float:
    if base == 0:
        return 1.0 if new == 0 else math.inf
    return new / base


def _bootstrap(b: np.ndarray, n: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    mb = np.median(b[rng.integers(0, len(b), (RESAMPLES, len(b)))], axis=1)
    mn = np.median(n[rng.integers(0, len(n), (RESAMPLES, len(n)))], axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(mb == 0, np.where(mn == 0, 1.0, np.inf), mn / np.where(mb == 0, 1, mb))
        # interpolating between two infinite ratios gives nan: the bound is infinite
        lo, hi = np.nan_to_num(np.percentile(r, [tail, 100 - tail]), nan=np.inf, posinf=np.inf)
    return float(lo), float(hi)


def _p_value(b: np.ndarray, n: np.ndarray) -> float:
    if np.array_equal(np.sort(b), np.sort(n)):
        return 1.0  # identical samples: no evidence of a shift (the test's variance is 0 when all tie)
    # imported here: importing scipy.stats takes ~2 s, which every otel-fold command paid at start-up
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(b, n, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def _observations(path: Sequence[str], samples: Mapping[tuple[str, ...], list[float]]) -> float:
    """Spans behind a percentile over all runs: the sibling `count` of its latency block."""
    base = tuple(path[:-2]) if len(path) > 2 and path[-2] == "latency" else tuple(path[:-1])
    return float(sum(samples.get((*base, "count"), [0.0])))
