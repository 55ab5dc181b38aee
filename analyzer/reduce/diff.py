"""Two reports compared: signed deltas per metric and, with several runs per side, whether each beats the noise.

The unit is one run (docs/diff.md). Each value is a log ratio NEW/BASE with a standard error
(`reduce.significance`): a once-per-run value by Welch's t on the logs of its per-run values; a percentile of a
category's latency from every span of every run (the runs' sketches pooled, a cluster bootstrap of whole runs).
The p-values of all values of one diff are adjusted together (Benjamini-Yekutieli, which holds however the
values are correlated). A change is *regressed*/*improved* only when its adjusted p is under LEVEL **and** its
95% interval lies wholly outside the noise band; otherwise *within noise*. Where no change could be flagged
(a value in fewer than 2 runs a side, a percentile of too few spans): *too few runs*, with the runs that would
do (MIN_TAIL). Every judged value carries the smallest change its runs could flag (`mde`).

A document may hold several entries (``otel-fold bench`` writes one ``flyte.benchmark.<workflow>`` each):
`diff_documents` matches them by key, and an entry on one side only is all *added* or all *removed*. With
several entries on both sides, each category's spans are also pooled over the workflows (stratified by
workflow): one more diff, POOLED_KEY, in which a category's change shows with all the benchmark's spans.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import numpy as np

from analyzer.errors import AnalyzerError
from analyzer.reduce import significance as S
from analyzer.reduce.defaults import DEFAULT_LEVEL, DEFAULT_NOISE
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
from analyzer.results.document import SKETCH, TEXT, field_kind, flatten, unflatten
from analyzer.results.sketch import Sketch, parse_sketch

__all__ = [
    "CONFIDENCE", "DEFAULT_LEVEL", "DEFAULT_NOISE", "HIGHER_IS_BETTER", "MIN_TAIL", "POOLED_KEY", "PROCEDURE", "QUANTILE_KEYS",
    "diff", "diff_documents", "notable", "summary",
]  # fmt: skip

# The interval every verdict's ratio is shown with, and must clear the noise band at.
CONFIDENCE = 0.95
# The false discovery rate procedure over all values of one diff, as named in the output.
PROCEDURE = "Benjamini-Yekutieli"
HIGHER_IS_BETTER = frozenset({"userCode"})  # every other metric: more time, share or work is worse
# Latency percentiles judged from the pooled spans of a category (its runs' sketches), by key.
QUANTILE_KEYS: Mapping[str, float] = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
# The fewest spans beyond a percentile, on each side, for it to be judged (a p99 needs 1,000 spans, a p90 100):
# with fewer, it is a handful of extreme spans, whose spread neither the bootstrap nor order statistics
# estimate well (a p90 of 56 etcd reads a side was flagged by chance in the demo with 1).
MIN_TAIL = 10
# The key of the diff that pools each category's spans over a benchmark's workflows.
POOLED_KEY = "flyte.benchmark.* (categories pooled over the workflows)"
_SKIP = frozenset({"method", "warnings", "runs", "execution", "absent"})
_LATENCY = "latency"


@dataclass
class _Test:
    """One value awaiting its verdict: its estimate (None: too few runs) and the runs a side that would do."""

    estimate: S.Estimate | None
    runs_needed: int | None = None
    higher_is_better: bool = False


_Sketches: TypeAlias = dict[tuple[str, ...], list[Sketch]]  # a category block's sketch in each run


@dataclass
class _Entry:
    """One entry's diff before the verdicts, which need every entry's p-values."""

    diff: Diff
    leaves: dict[tuple[str, ...], Change]
    tests: dict[tuple[str, ...], _Test] = field(default_factory=dict)
    sketches: tuple[_Sketches, _Sketches] | None = None  # each side's, when assessed


def _method(status: str, assessed: bool, noise: float, level: float, tested: int) -> str:
    """The significance test and thresholds, as stated in the output."""
    if status != CHANGED:
        return f"entry {status}: on one side only, its values shown, nothing compared"
    if not assessed:
        return "one run on a side: deltas only, significance not assessed"
    return (
        f"unit = one run; once-per-run values: ratio of geometric means, Welch's t on logs; latency percentiles: "
        f"every span of every run, ratio of pooled percentiles, cluster bootstrap ({S.RESAMPLES} resamples of "
        f"whole runs, seeded); {PROCEDURE} false discovery rate {level:g} over the diff's {tested} values; "
        f"regressed/improved when q < {level:g} and the {CONFIDENCE:.0%} interval lies outside ±{noise:.0%}; "
        f"mde: the smallest ratio flagged 8 times in 10"
    )


def notable(d: Diff) -> Diff:
    """The same diff keeping only what moved: regressed or improved (or, when not assessed, any non-zero
    delta), and everything added or removed; empty branches are dropped."""
    return replace(d, tree=_prune(d.tree, d.assessed))


def summary(diffs: Sequence[Diff]) -> tuple[int, int, int]:
    """Values tested (given a verdict), flagged (regressed or improved), and judged too few runs."""
    verdicts = [c.verdict for d in diffs for c in d.changes().values()]
    flagged = sum(v in (REGRESSED, IMPROVED) for v in verdicts)
    return flagged + verdicts.count(WITHIN_NOISE), flagged, verdicts.count(TOO_FEW)


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
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    noise: float = DEFAULT_NOISE,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Diff:
    """Compare two report documents of one entry each (as report.report() builds them), whatever their keys."""
    (bkey, bbody), (nkey, nbody) = next(iter(base.items())), next(iter(new.items()))
    (d,) = _judged([_entry(str(bkey), bbody, str(nkey), nbody, seed)], noise, level)
    return d


def diff_documents(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    noise: float = DEFAULT_NOISE,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> list[Diff]:
    """Compare two report documents entry by entry, matched by key (one entry each: compared whatever their
    keys), plus the categories pooled over the entries when several are on both sides."""
    if len(base) == 1 and len(new) == 1:  # two executions' reports are keyed by their own ids
        return [diff(base, new, noise=noise, level=level, seed=seed)]
    keys = [*base, *(k for k in new if k not in base)]
    entries = [_entry(str(k), base.get(k), str(k), new.get(k), seed) for k in keys]
    pooled = _pooled(entries, seed)
    return _judged(entries + ([pooled] if pooled is not None else []), noise, level)


def _entry(
    bkey: str, bbody: Mapping[str, Any] | None, nkey: str, nbody: Mapping[str, Any] | None, seed: int
) -> _Entry:
    """One entry of each side compared (None: absent on that side, so every leaf is added or removed)."""
    bruns, nruns = _runs(bbody), _runs(nbody)
    bsum, nsum = _values(bbody or {}), _values(nbody or {})
    _same_shape(nkey, bsum.keys() | nsum.keys())
    assessed = len(bruns) > 1 and len(nruns) > 1
    leaves: dict[tuple[str, ...], Change] = {}
    for path in [*bsum, *(p for p in nsum if p not in bsum)]:
        kind = field_kind(path)
        b, n = bsum.get(path), nsum.get(path)
        if b is None or n is None:
            leaves[path] = Change(kind, REMOVED if n is None else ADDED, b, n, None)
        else:
            leaves[path] = Change(kind, CHANGED, b, n, n - b)
    d = Diff(bkey, nkey, len(bruns), len(nruns), {}, 0.0, assessed, method="")
    entry = _Entry(d, leaves)
    if assessed:
        compared = [p for p, c in leaves.items() if c.status == CHANGED]
        rng = np.random.default_rng([seed, zlib.crc32(nkey.encode())])  # an entry's resamples are its own
        entry.sketches = _sketches(bruns), _sketches(nruns)
        entry.tests = _tests(compared, bruns, nruns, entry.sketches, rng)
    return entry


def _tests(
    paths: Sequence[tuple[str, ...]],
    bruns: Sequence[Mapping[str, Any]],
    nruns: Sequence[Mapping[str, Any]],
    sketches: tuple[_Sketches, _Sketches],
    rng: np.random.Generator,
) -> dict[tuple[str, ...], _Test]:
    """Every compared value's test: pooled spans for a latency percentile whose runs have sketches, else runs."""
    bs, ns = _samples(bruns), _samples(nruns)
    bsk, nsk = sketches
    tests: dict[tuple[str, ...], _Test] = {}
    by_block: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in paths:
        block = path[:-2]
        if path[-1] in QUANTILE_KEYS and path[-2] == _LATENCY and block in bsk and block in nsk:
            by_block.setdefault(block, []).append(path)
        else:
            tests[path] = _run_test(path, bs.get(path, []), ns.get(path, []))
    for block, members in by_block.items():
        judged = _span_tests(members, [bsk.get(block, [])], [nsk.get(block, [])], rng)
        tests.update({p: t for p, (t, _) in judged.items()})
    return tests


def _run_test(path: tuple[str, ...], b: Sequence[float], n: Sequence[float]) -> _Test:
    better = path[-1] in HIGHER_IS_BETTER
    if len(b) < 2 or len(n) < 2:
        return _Test(None, 2, better)
    return _Test(S.run_level(b, n), None, better)


def _span_tests(
    members: Sequence[tuple[str, ...]],
    base: Sequence[Sequence[Sketch]],
    new: Sequence[Sequence[Sketch]],
    rng: np.random.Generator,
) -> dict[tuple[str, ...], tuple[_Test, tuple[float, float] | None]]:
    """The percentiles of one category's latency, from the pooled spans (strata: one workflow's runs each),
    each with the two sides' pooled percentile (None: too few spans)."""
    spans = [sum(s.count for st in side for s in st) for side in (base, new)]
    runs = [sum(len(st) for st in side) for side in (base, new)]
    qs = [QUANTILE_KEYS[p[-1]] for p in members]
    out: dict[tuple[str, ...], tuple[_Test, tuple[float, float] | None]] = {}
    # spans a side that put MIN_TAIL beyond each quantile, whole (10 / (1 - 0.9) is 99.99999999999999 in floats)
    need = {q: math.ceil(round(MIN_TAIL / (1 - q), 9)) for q in qs}
    judged = [q for q in qs if min(spans) >= need[q]]
    estimates = iter(S.pooled_quantiles(base, new, judged, rng) if judged else [])
    for path, q in zip(members, qs, strict=True):
        if q in judged:
            e, bv, nv = next(estimates)
            out[path] = (_Test(e), (bv, nv))
        else:
            needed = max(S.runs_for(c / max(r, 1), need[q]) for c, r in zip(spans, runs, strict=True))
            out[path] = (_Test(None, needed), None)
    return out


def _pooled(entries: Sequence[_Entry], seed: int) -> _Entry | None:
    """Each category's percentiles with its spans pooled over the entries on both sides (runs resampled
    within their entry); None unless two or more entries have sketches on both sides."""
    strata: dict[tuple[str, ...], tuple[list[list[Sketch]], list[list[Sketch]]]] = {}
    for e in entries:
        if e.sketches is None:  # not assessed: fewer than two runs on a side, or on one side only
            continue
        bsk, nsk = e.sketches
        # in the runs' order: a set's would vary with the hash seed, and the resamples with it
        for block in (b for b in bsk if b in nsk):
            sides = strata.setdefault(block, ([], []))
            sides[0].append(bsk[block])
            sides[1].append(nsk[block])
    blocks = {k: v for k, v in strata.items() if len(v[0]) > 1}
    if not blocks:
        return None
    rng = np.random.default_rng([seed, zlib.crc32(POOLED_KEY.encode())])
    leaves: dict[tuple[str, ...], Change] = {}
    tests: dict[tuple[str, ...], _Test] = {}
    for block, (b, n) in blocks.items():
        members = [(*block, _LATENCY, k) for k in QUANTILE_KEYS]
        for path, (test, values) in _span_tests(members, b, n, rng).items():
            if values is not None:  # too few spans even pooled: each entry says so already
                tests[path] = test
                leaves[path] = Change(field_kind(path), CHANGED, *values, values[1] - values[0])
    both = [e.diff for e in entries if e.diff.base_runs and e.diff.new_runs]  # the entries on both sides
    nb, nn = sum(d.base_runs for d in both), sum(d.new_runs for d in both)
    d = Diff(POOLED_KEY, POOLED_KEY, nb, nn, {}, 0.0, True, method="", pooled=True)
    return _Entry(d, leaves, tests)


def _judged(entries: Sequence[_Entry], noise: float, level: float) -> list[Diff]:
    """Every entry's verdicts, with the p-values of all their values adjusted together."""
    keyed = [(i, p, t.estimate) for i, e in enumerate(entries) for p, t in e.tests.items() if t.estimate]
    m = len(keyed)
    j, qs = None, np.empty(0)
    if m:  # scipy is imported only when something is judged: a diff of single runs prints deltas alone
        from scipy.stats import false_discovery_control

        first = level / (m * sum(1 / k for k in range(1, m + 1)))  # BY's smallest threshold
        j = S.judge([e for _, _, e in keyed], CONFIDENCE, first, noise)
        qs = false_discovery_control(j.p, method="by")
    at = {(i, p): k for k, (i, p, _) in enumerate(keyed)}
    out = []
    for i, e in enumerate(entries):
        leaves = dict(e.leaves)
        for path, t in e.tests.items():
            k = at.get((i, path))
            c = leaves[path]
            if k is None or t.estimate is None or j is None:
                leaves[path] = replace(c, verdict=TOO_FEW, runs_needed=t.runs_needed)
                continue
            ratio, lo, hi, q = math.exp(t.estimate.log_ratio), float(j.lo[k]), float(j.hi[k]), float(qs[k])
            verdict = WITHIN_NOISE
            if q < level and (lo > 1 + noise or hi < 1 - noise):
                verdict = REGRESSED if (ratio > 1) != t.higher_is_better else IMPROVED
            leaves[path] = replace(c, verdict=verdict, ratio=ratio, ci=(lo, hi), p=float(j.p[k]), q=q,
                                   mde=float(j.mde[k]))  # fmt: skip
        d = replace(e.diff, tree=unflatten(leaves), noise=noise)
        out.append(replace(d, method=_method(d.status, d.assessed, noise, level, m)))
    return out


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


_EMPTY = Sketch(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _sketches(runs: Sequence[Mapping[str, Any]]) -> _Sketches:
    """Each category block's sketch in every run (a run without the category: an empty one); blocks that no
    run sketched are left out (a report of one execution, or a file from before sketches)."""
    found: dict[tuple[str, ...], dict[int, Sketch]] = {}
    for i, run in enumerate(runs):
        for p, v in flatten(run).items():
            if p[-1] == SKETCH and isinstance(v, str):
                found.setdefault(p[:-1], {})[i] = parse_sketch(v)
    return {block: [by_run.get(i, _EMPTY) for i in range(len(runs))] for block, by_run in found.items()}
