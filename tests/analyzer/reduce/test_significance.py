"""The diff's statistics on documents of known distributions (seeded lognormal draws), with scipy and ddsketch
as the oracles: never numbers produced by running this code before."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from ddsketch import DDSketch
from scipy.stats import false_discovery_control, ttest_ind

from analyzer.reduce import diff as D
from analyzer.reduce import report as R
from analyzer.reduce import significance as S
from analyzer.results import diff as DR
from analyzer.results.sketch import sketch_of

MS = 1_000_000
ETCD = ("etcd", "writes", "latency")


def _lognormal(rng: np.random.Generator, p50: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(math.log(p50), sigma, n)


def _bench(
    seed: int,
    runs: int,
    *,
    etcd_p50: float = 8 * MS,
    spans: int = 60,
    task_p50: float = 500 * MS,
    name: str = "w",
    run_scale_sigma: float = 0.0,
) -> dict:
    """A benchmark entry as `otel-fold bench` writes it: per run a task's runtime (one lognormal draw, spread
    0.6) and `spans` etcd writes (lognormal, spread 0.69), each run's writes as a sketch. `run_scale_sigma`
    scales a whole run's writes by one lognormal factor (spans of one run correlated)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(runs):
        scale = rng.lognormal(0, run_scale_sigma) if run_scale_sigma else 1.0
        writes = _lognormal(rng, etcd_p50, 0.69, spans) * scale
        p50, p90, p99 = np.percentile(writes, [50, 90, 99])
        out.append({
            "execution": f"{name}{seed}-{i}",
            "nodes": [{"n0": {"segments": {"TASK_RUNTIME": int(_lognormal(rng, task_p50, 0.6, 1)[0])}}}],
            "etcd": {"writes": {"count": spans, "total": int(writes.sum()),
                                "latency": {"p50": int(p50), "p90": int(p90), "p99": int(p99)},
                                "sketch": sketch_of(writes).text()}},
        })  # fmt: skip
    return R.report(out, name=name)


def test_per_run_values_are_welch_t_on_their_logs_as_scipy_computes_it():
    rng = np.random.default_rng(7)
    b, n = _lognormal(rng, 100.0, 0.5, 9), _lognormal(rng, 130.0, 0.5, 12)
    e = S.run_level(b, n)
    offset = S.LOG_OFFSET * float(np.median(np.concatenate([b, n])))
    oracle = ttest_ind(np.log(n + offset), np.log(b + offset), equal_var=False)
    (p,) = S.judge([e], 0.95, 0.05, 0.05).p
    assert p == pytest.approx(oracle.pvalue, rel=1e-9)
    assert e.log_ratio / e.se == pytest.approx(oracle.statistic, rel=1e-9)


def test_q_values_are_benjamini_yekutieli_over_every_value_of_every_entry():
    base = {**_bench(1, 6, name="a"), **_bench(2, 6, name="b")}
    new = {**_bench(3, 6, name="a", etcd_p50=12 * MS), **_bench(4, 6, name="b")}
    changes = [c for d in D.diff_documents(base, new) for c in d.changes().values() if c.p is not None]
    ps = np.array([c.p for c in changes])
    assert len(changes) > 10
    assert np.allclose([c.q for c in changes], false_discovery_control(ps, method="by"))


def test_a_pooled_percentile_is_the_one_ddsketch_reads_from_the_merged_sketches():
    rng = np.random.default_rng(11)
    runs = [_lognormal(rng, 8 * MS, 0.69, 40) for _ in range(5)]
    merged = DDSketch(relative_accuracy=0.01)
    for r in runs:
        for v in r:
            merged.add(float(v))
    sketches = [sketch_of(r) for r in runs]
    estimates = S.pooled_quantiles([sketches], [sketches], [0.5, 0.9, 0.99], np.random.default_rng(0))
    for (e, base, new), q in zip(estimates, [0.5, 0.9, 0.99], strict=True):
        # read within the bucket, where ddsketch reads the bucket's one value: the same bucket, so within 2a
        assert base == new == pytest.approx(merged.get_quantile_value(q), rel=0.02)
        assert e.log_ratio == 0


def test_the_cluster_bootstrap_error_of_a_pooled_median_is_the_lognormal_one_when_spans_are_independent():
    # The log of a median of N lognormal(sigma) draws has sd ~ 1.2533 sigma / sqrt(N): each side 40 runs x 50.
    # One bootstrap's own error is ~1 / sqrt(2 x 39) = 11%: the mean over 8 draws of the data is within 15%.
    errors = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        side = [[sketch_of(_lognormal(rng, 8 * MS, 0.69, 50)) for _ in range(40)] for _ in range(2)]
        (e, _, _), = S.pooled_quantiles([side[0]], [side[1]], [0.5], np.random.default_rng(1))  # fmt: skip
        errors.append(e.se)
    assert np.mean(errors) == pytest.approx(math.sqrt(2) * 1.2533 * 0.69 / math.sqrt(2000), rel=0.15)


def test_runs_whose_spans_move_together_widen_the_error_beyond_what_the_spans_alone_allow():
    # Each run's writes scaled by one factor (a slow etcd during that run): the spans of a run are not 60
    # independent samples, and only resampling whole runs sees it.
    independent = _bench(1, 10)["flyte.benchmark.w"]["runs"]
    together = _bench(1, 10, run_scale_sigma=0.4)["flyte.benchmark.w"]["runs"]
    errors = []
    for runs in (independent, together):
        side = [D._sketches(runs)[("etcd", "writes")]]
        (e, _, _), = S.pooled_quantiles(side, side, [0.5], np.random.default_rng(0))  # fmt: skip
        errors.append(e.se)
    # a factor of sd 0.4 a run, over 10 runs: ~0.4 * sqrt(2 / 10) = 0.18, against ~0.05 from the spans
    assert errors[1] > 2.5 * errors[0]


def test_identical_distributions_flag_nothing_and_a_slower_category_is_a_regression_with_all_its_spans():
    same = D.diff(_bench(1, 10), _bench(2, 10))
    assert {c.verdict for c in same.changes().values()} == {DR.WITHIN_NOISE, DR.TOO_FEW}  # TOO_FEW: the p99
    slower = D.diff(_bench(1, 10), _bench(2, 10, etcd_p50=12 * MS)).changes()
    assert slower[(*ETCD, "p50")].verdict == DR.REGRESSED
    assert slower[(*ETCD, "p50")].ci[0] > 1.05  # type: ignore[index]
    # the per-run TASK_RUNTIME draws did not move, and with 10 runs its mde says only a large change would show
    task = slower[("nodes", "n0", "segments", "TASK_RUNTIME")]
    assert task.verdict == DR.WITHIN_NOISE and task.mde is not None and task.mde > 2


def test_a_percentile_of_too_few_spans_is_too_few_runs_with_the_runs_that_would_do():
    # 80 spans a side: 10 beyond a p90 take 100 spans (5 runs of 20), beyond a p99 1,000 (50 runs)
    base, new = _bench(1, 4, spans=20), _bench(2, 4, spans=20)
    c = D.diff(base, new).changes()
    assert (c[(*ETCD, "p90")].verdict, c[(*ETCD, "p90")].runs_needed) == (DR.TOO_FEW, 5)
    assert (c[(*ETCD, "p99")].verdict, c[(*ETCD, "p99")].runs_needed) == (DR.TOO_FEW, 50)
    assert c[(*ETCD, "p50")].verdict == DR.WITHIN_NOISE


def test_a_diff_of_several_categories_and_entries_is_the_same_in_every_process(tmp_path):
    """The resamples are seeded: the same two files give the same diff whatever Python's hash seed (the pooled
    entry's categories once came in a set's order, which moved its draws from one process to the next)."""
    sides = []
    for seed in (1, 2):
        doc = {**_bench(seed, 4, name="a"), **_bench(seed + 10, 4, name="b")}
        for body in doc.values():
            for run in body["runs"]:
                run.update({c: copy.deepcopy(run["etcd"]) for c in ("blob", "events", "k8s", "cache")})
        sides.append(tmp_path / f"{seed}.json")
        sides[-1].write_text(json.dumps(doc))
    outputs = {
        subprocess.run(
            [sys.executable, "-m", "analyzer", "diff", *map(str, sides)],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True, text=True, timeout=300, check=True,
        ).stdout
        for hash_seed in range(1, 5)
    }  # fmt: skip
    assert len(outputs) == 1 and "categories pooled" in outputs.pop()


def test_a_p90_of_exactly_100_spans_a_side_is_judged():
    # 5 runs of 20: 10 spans beyond the p90 on each side, the documented least (docs/diff.md)
    c = D.diff(_bench(1, 5, spans=20), _bench(2, 5, spans=20)).changes()[(*ETCD, "p90")]
    assert c.verdict != DR.TOO_FEW and c.q is not None


def test_a_percentile_is_judged_run_by_run_when_one_side_has_no_sketches():
    """A file written before sketches against one with them: the percentile's per-run values are compared, as
    for a file without any (docs/diff.md), not an empty side of pooled spans."""
    base, new = _bench(1, 6), _bench(2, 6, etcd_p50=16 * MS)
    for run in base["flyte.benchmark.w"]["runs"]:
        del run["etcd"]["writes"]["sketch"]
    c = D.diff(base, new).changes()[(*ETCD, "p50")]
    assert (c.verdict, c.runs_needed) == (DR.REGRESSED, None)


@pytest.mark.parametrize(("k", "most"), [(1.5, False), (0.5, True)])
def test_a_change_of_k_times_the_reported_mde_is_flagged_as_often_as_the_mde_promises(k: float, most: bool):
    # The mde is the ratio flagged 8 times in 10; k x the mde is a factor of mde**k (changes multiply).
    mde = D.diff(_bench(100, 10), _bench(200, 10)).changes()[("nodes", "n0", "segments", "TASK_RUNTIME")].mde
    assert mde is not None
    flagged = 0
    for seed in range(20):
        d = D.diff(_bench(300 + seed, 10), _bench(400 + seed, 10, task_p50=500 * MS * mde**k))
        flagged += d.changes()[("nodes", "n0", "segments", "TASK_RUNTIME")].verdict == DR.REGRESSED
    assert (flagged <= 2) if most else (flagged >= 16)


def test_benchmarks_of_several_workflows_also_pool_each_category_over_them():
    base = {**_bench(1, 5, name="a"), **_bench(2, 5, name="b")}
    new = {**_bench(3, 5, name="a", etcd_p50=10 * MS), **_bench(4, 5, name="b", etcd_p50=10 * MS)}
    diffs = {d.new_key: d for d in D.diff_documents(base, new)}
    pooled = diffs[D.POOLED_KEY]
    assert pooled.pooled and (pooled.base_runs, pooled.new_runs) == (10, 10)
    both = pooled.changes()[(*ETCD, "p50")]
    one = diffs["flyte.benchmark.a"].changes()[(*ETCD, "p50")]
    # twice the spans: a smaller detectable change than either workflow's alone
    assert both.mde is not None and one.mde is not None and both.mde < one.mde
