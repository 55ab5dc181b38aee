"""The diff's cluster bootstrap: scipy.stats.bootstrap against the hand-written numpy resampling it uses.

    .venv/bin/python benchmarks/bench_bootstrap.py [--runs 10] [--spans 56] [--resamples 1000]

One category of two 10-run sides (lognormal durations like the default profile's etcd writes, 56 spans a run,
as tiny_chain's), as run sketches; the statistic is the log ratio of the pooled p50, p90 and p99, its standard
error from resampling whole runs of each side. Both ways use the same statistic (vectorised over resamples);
scipy's also computes an interval (percentile method), which the diff does not need, and has no floor. Prints the time of each per
category and the standard errors, which must agree within the resampling noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.reduce import significance as S  # noqa: E402
from analyzer.results.sketch import sketch_of  # noqa: E402

QUANTILES = (0.5, 0.9, 0.99)


def _sides(runs: int, spans: int, seed: int) -> tuple[list, list]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    draw = lambda: sketch_of(rng.lognormal(np.log(8e6), 0.69, spans))  # noqa: E731
    return [draw() for _ in range(runs)], [draw() for _ in range(runs)]


def _scipy(base: list, new: list, resamples: int) -> np.ndarray:  # type: ignore[type-arg]
    from scipy.stats import bootstrap

    lo = min(int(s.keys[0]) for s in base + new) - 1
    hi = max(int(s.keys[-1]) for s in base + new)
    counts = np.zeros((len(base) + len(new), hi - lo + 1))
    for i, s in enumerate(base + new):
        counts[i, s.keys - lo] = s.counts

    def logq(idx: np.ndarray) -> np.ndarray:
        pooled = counts[idx.astype(int)].sum(axis=-2)  # (resamples, buckets), or (buckets,) for the data
        return S._log_quantiles(np.atleast_2d(pooled), QUANTILES, lo).T.reshape(
            len(QUANTILES), *pooled.shape[:-1]
        )

    def stat(b: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return logq(n) - logq(b)

    res = bootstrap((np.arange(len(base)), np.arange(len(base), len(base) + len(new))), stat,
                    n_resamples=resamples, vectorized=True, method="percentile", random_state=0)  # fmt: skip
    return np.asarray(res.standard_error)


def _numpy(base: list, new: list, resamples: int) -> np.ndarray:  # type: ignore[type-arg]
    out = S.pooled_quantiles([base], [new], QUANTILES, np.random.default_rng(0), resamples)
    return np.array([e.se for e, _, _ in out])


def main() -> None:
    """Time both, print the ratio and the standard errors."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--spans", type=int, default=56)
    p.add_argument("--resamples", type=int, default=S.RESAMPLES)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    base, new = _sides(args.runs, args.spans, 1)
    results = {}
    for name, fn in (("scipy.stats.bootstrap", _scipy), ("numpy (reduce.significance)", _numpy)):
        fn(base, new, args.resamples)
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            se = fn(base, new, args.resamples)
        results[name] = (time.perf_counter() - t0) / args.repeat
        print(f"{name:28s} {results[name] * 1e3:7.1f} ms a category   se(p50, p90, p99) = {np.round(se, 4)}")
    # the numpy way also floors each side's error at the pooled spans' own (order statistics): equal here or above
    scipy_t, numpy_t = results.values()
    print(f"scipy / numpy: {scipy_t / numpy_t:.1f}x")


if __name__ == "__main__":
    main()
