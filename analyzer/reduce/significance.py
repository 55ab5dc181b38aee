"""The diff's statistics: one value of two run sets as a log ratio NEW/BASE with its standard error.

Two kinds of value (docs/diff.md):

* once per run (a duration, a share, a count, a node's segment): Welch's t on the logs of the per-run values,
  so the ratio is that of geometric means and the reference is Student's t with Welch's degrees of freedom;
* a percentile of a category's latency: every span of every run is a sample. The runs' sketches are pooled
  and the standard error comes from a cluster bootstrap (whole runs resampled, each side apart), floored
  at what the pooled spans alone allow (the order-statistic interval of the quantile), with a normal
  reference: with few runs the bootstrap's own error is large, and the floor keeps it from understating
  the spread when spans within a run are independent.

Functions here compute numbers only; `reduce.diff` decides verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.results.sketch import ACCURACY, Sketch, keys_of

__all__ = [
    "LOG_OFFSET", "RESAMPLES", "Estimate", "Judged", "judge", "pooled_quantiles", "run_level", "runs_for",
]  # fmt: skip

# Resamples of the cluster bootstrap.
RESAMPLES = 1000
# Added before taking logs of a once-per-run value, as a fraction of its typical size, so that zeros are values.
LOG_OFFSET = 0.01
_LOG_GAMMA = math.log1p(2 * ACCURACY / (1 - ACCURACY))  # a bucket's log-width
_BUCKET_SE = _LOG_GAMMA / math.sqrt(12)  # a bucket's rounding, as an SE
_POWER = 0.8  # the minimum detectable effect is the change flagged with this probability


@dataclass(frozen=True)
class Estimate:
    """log(NEW/BASE) of one value, its standard error and the degrees of freedom of its reference
    distribution (inf: normal)."""

    log_ratio: float
    se: float
    df: float


def run_level(base: npt.ArrayLike, new: npt.ArrayLike) -> Estimate:
    """Welch's t on the logs of the per-run values (each side at least 2 runs). Zeros (no retry, no idle time)
    are values too: every value is offset by LOG_OFFSET of the two sides' median positive value first, which
    does not look at which side a value is from."""
    b, n = np.maximum(np.asarray(base, dtype=np.float64), 0), np.maximum(np.asarray(new, dtype=np.float64), 0)
    both = np.concatenate([b, n])
    offset = LOG_OFFSET * (float(np.median(both[both > 0])) if (both > 0).any() else 1.0)
    b, n = np.log(b + offset), np.log(n + offset)
    vb, vn = b.var(ddof=1) / len(b), n.var(ddof=1) / len(n)
    se = math.sqrt(vb + vn)
    df = (vb + vn) ** 2 / (vb**2 / (len(b) - 1) + vn**2 / (len(n) - 1)) if se > 0 else math.inf
    return Estimate(float(n.mean() - b.mean()), se, df)


@dataclass(frozen=True)
class Judged:
    """Many estimates at once: two-sided p against no change, the ratio's interval, and the smallest ratio
    (> 1; its inverse downwards) the same runs would flag with probability _POWER."""

    p: npt.NDArray[np.float64]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    mde: npt.NDArray[np.float64]


def judge(estimates: Sequence[Estimate], confidence: float, threshold: float, noise: float) -> Judged:
    """`estimates` judged together (scipy's t is vectorised; one call per quantity, not per value).
    `threshold`: the smallest p a value could be flagged at; the mde is significant there **and** has its
    `confidence` interval clear of the noise band."""
    from scipy.stats import t

    d = np.array([e.log_ratio for e in estimates], dtype=np.float64)
    se = np.array([e.se for e in estimates], dtype=np.float64)
    df = np.array([e.df for e in estimates], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se > 0, np.abs(d) / se, np.where(d == 0, 0.0, np.inf))
    half = t.isf((1 - confidence) / 2, df) * se
    crit = t.isf(threshold / 2, df) * se
    band = math.log1p(noise) + half
    mde = np.exp(np.maximum(crit, band) + t.isf(1 - _POWER, df) * se)
    return Judged(2 * t.sf(stat, df), np.exp(d - half), np.exp(d + half), mde)


def runs_for(spans_per_run: float, needed: float) -> int:
    """Runs a side that hold `needed` spans at `spans_per_run`."""
    return max(2, math.ceil(round(needed / max(spans_per_run, 1e-9), 9)))  # 10 / 0.1 is 100.00000000000001


def pooled_quantiles(
    base: Sequence[Sequence[Sketch]],
    new: Sequence[Sequence[Sketch]],
    quantiles: Sequence[float],
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> list[tuple[Estimate, float, float]]:
    """Each quantile of the pooled spans of `base` runs against `new` runs, with the two pooled quantiles (ns).
    A side is a list of strata (one workflow's runs each, resampled within it), a stratum a list of run
    sketches; every side holds at least one span."""
    one_ns = int(keys_of([1.0])[0])
    lo = min(
        (int(s.keys[0]) for side in (base, new) for st in side for s in st if len(s.keys)), default=one_ns
    )
    hi = max(
        (int(s.keys[-1]) for side in (base, new) for st in side for s in st if len(s.keys)), default=one_ns
    )
    zero_key = lo - 1  # durations under 1 ns count in one bucket below every other
    width = hi - zero_key + 1
    sides = [_side(side, zero_key, width, quantiles, rng, resamples) for side in (base, new)]
    (qb, sb), (qn, sn) = sides
    return [
        (Estimate(float(qn[i] - qb[i]), math.hypot(sb[i], sn[i]), math.inf), math.exp(qb[i]), math.exp(qn[i]))
        for i in range(len(quantiles))
    ]


def _side(
    strata: Sequence[Sequence[Sketch]],
    zero_key: int,
    width: int,
    quantiles: Sequence[float],
    rng: np.random.Generator,
    resamples: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """log quantiles of one side's pooled spans and their standard errors (cluster bootstrap, span floor)."""
    runs = [s for st in strata for s in st]
    counts = np.zeros((len(runs), width))
    for i, s in enumerate(runs):
        counts[i, s.keys - zero_key] = s.counts
        counts[i, 0] += s.zeros
    weights = np.concatenate([_resampled(len(st), rng, resamples) for st in strata], axis=1)
    pooled = counts.sum(axis=0)
    point = _log_quantiles(pooled[None, :], quantiles, zero_key)[0]
    # einsum, not BLAS's matmul: these products are small, and a threaded BLAS on a busy machine took 10x longer
    boot = _log_quantiles(np.einsum("br,rk->bk", weights, counts), quantiles, zero_key)
    g = len(runs)
    cluster = boot.std(axis=0, ddof=1) * math.sqrt(g / max(g - len(strata), 1))
    spans = _order_statistic_se(pooled, quantiles, zero_key)
    return point, np.maximum(np.maximum(cluster, spans), _BUCKET_SE)


def _resampled(runs: int, rng: np.random.Generator, resamples: int) -> npt.NDArray[np.float64]:
    """How often each run is drawn in each resample (`runs` draws with replacement), as float weights: the
    pooled counts of a resample are then one matrix product."""
    drawn = rng.integers(0, runs, (resamples, runs))
    # one count per (resample, run): the draws offset by their resample's row, counted at once
    slots = (drawn + runs * np.arange(resamples)[:, None]).ravel()
    weights: npt.NDArray[np.float64] = np.bincount(slots, minlength=resamples * runs).astype(np.float64)
    return weights.reshape(resamples, runs)


def _log_quantiles(
    counts: npt.NDArray[np.float64], quantiles: Sequence[float], zero_key: int
) -> npt.NDArray[np.float64]:
    """log of each quantile of each row of bucket counts, at rank q * (N - 1) as ddsketch ranks it."""
    cum = np.cumsum(counts, axis=1)
    rank = np.asarray(quantiles)[None, :] * (cum[:, -1:] - 1)
    return _log_at_ranks(counts, cum, rank, zero_key)


def _log_at_ranks(
    counts: npt.NDArray[np.float64],
    cum: npt.NDArray[np.float64],
    rank: npt.NDArray[np.float64],
    zero_key: int,
) -> npt.NDArray[np.float64]:
    """log of the value at each rank (a row of ranks per row of counts), read within its bucket: a bucket
    spans (gamma**(k-1), gamma**k], its spans spread evenly over its log-width. ddsketch reads a bucket's one
    value instead; within a bucket's width (ACCURACY) of it, but a lattice makes resampled quantiles
    jumpy, which overstates their spread when it is about a bucket wide (thousands of spans)."""
    rows = np.arange(len(cum))[:, None]
    idx = np.minimum((cum[:, None, :] > rank[:, :, None]).argmax(axis=2), cum.shape[1] - 1)
    inside = np.maximum(counts[rows, idx], 1)
    frac = np.clip((rank - (cum[rows, idx] - counts[rows, idx]) + 0.5) / inside, 0, 1)
    return np.asarray((idx + zero_key - 1 + frac) * _LOG_GAMMA)


def _order_statistic_se(
    pooled: npt.NDArray[np.float64], quantiles: Sequence[float], zero_key: int
) -> npt.NDArray[np.float64]:
    """Half the log-width of the quantile's +-1 sd order-statistic interval (ranks Nq -+ sqrt(Nq(1-q))):
    the standard error the pooled spans allow if every span were independent."""
    cum = np.cumsum(pooled)
    n = cum[-1]
    q = np.asarray(quantiles)
    step = np.sqrt(n * q * (1 - q))
    ranks = np.clip(np.stack([q * (n - 1) - step, q * (n - 1) + step]), 0, n - 1)
    logs = _log_at_ranks(np.tile(pooled, (2, 1)), np.tile(cum, (2, 1)), ranks, zero_key)
    return np.asarray((logs[1] - logs[0]) / 2)
