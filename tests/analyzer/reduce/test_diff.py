"""The diff: signed deltas in the report's hierarchy, and a verdict on noise when both sides hold several runs."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import flyte_otel as fo
from analyzer.decode.report import decode_report as load
from analyzer.errors import AnalyzerError
from analyzer.reduce import diff as D
from analyzer.reduce import report as R
from analyzer.render.diff_text import render_diff
from analyzer.render.report_yaml import render_yaml
from analyzer.results import diff as DR
from flyte_otel.semconv import EventKind, Phase
from tests import builders as B
from tests.builders import MS, US, Task


def _run(runtime: int, *, nodes: int = 2, events: int = 3, exec_id: str = "ex") -> dict:
    tasks = [Task(1 * MS, 2 * MS, 3 * MS, runtime, 1 * MS, 2 * MS) for _ in range(nodes)]
    with B.recording() as rec:
        B.chain(rec, tasks, setup=5 * MS, teardown=4 * MS, exec_id=exec_id)
        for i in range(events):
            with fo.event(EventKind.WORKFLOW, exec_id, phase=Phase.RUNNING, start=B.T0 + i * MS,
                          end=B.T0 + i * MS + 200 * US):  # fmt: skip
                pass
        return R.run_report(rec.table(exec_id))


def _doc(samples: list[float], name: str = "b") -> dict:
    """A report of several runs whose only metric is `duration` (ns)."""
    runs = [{"execution": f"r{i}", "duration": int(v)} for i, v in enumerate(samples)]
    return R.report(runs, name=name)


def test_diff_of_a_report_with_itself_is_all_zeros_and_within_noise():
    doc = R.report([_run(10 * MS, exec_id=f"ex{i}") for i in range(3)], name="chain")
    d = D.diff(doc, doc)
    changes = d.changes()
    assert changes and all(c.delta == 0 for c in changes.values())
    # These runs carry no sketches (a report, not a benchmark): every value, a p99 too, is judged run by run.
    assert {c.verdict for c in changes.values()} == {DR.WITHIN_NOISE}


def test_single_run_diff_gives_deltas_only_and_says_significance_was_not_assessed():
    doc = R.report([_run(10 * MS)])
    d = D.diff(doc, doc)
    assert not d.assessed and all(c.verdict is None for c in d.changes().values())
    assert "not assessed" in render_diff(d)


def test_diff_of_two_known_reports_gives_the_known_deltas():
    base = R.report([_run(10 * MS, events=3)], name="chain")
    new = R.report([_run(25 * MS, events=1)], name="chain")
    c = D.diff(base, new).changes()
    assert c[("duration",)].delta == 2 * 15 * MS
    assert c[("nodes", "n1", "segments", "TASK_RUNTIME")].delta == 15 * MS
    assert c[("nodes", "n1", "duration")].delta == 15 * MS
    assert c[("nodes", "n1", "schedulingLatency")].delta == 0
    assert c[("events", "workflow", "count")].delta == -2
    wall_b, wall_n = 5 + 2 * 19 + 4, 5 + 2 * 34 + 4
    assert c[("userCode",)].delta == (50 / wall_n) - (20 / wall_b)


def test_diff_text_mirrors_the_hierarchy_with_signed_deltas():
    base = R.report([_run(10 * MS, events=3)], name="chain")
    new = R.report([_run(25 * MS, events=1)], name="chain")
    # Through the YAML files, as the CLI does.
    d = D.diff(load(render_yaml(base), "base.yaml"), load(render_yaml(new), "new.yaml"))
    text = render_diff(d)
    parsed = yaml.safe_load(text)["flyte.benchmark.chain"]
    assert parsed["duration"] == "+30ms"
    assert parsed["events"]["workflow"]["count"] == -2
    assert parsed["nodes"][1]["n0"]["schedulingLatency"] == "+0ns"
    assert parsed["nodes"][1]["n0"]["segments"]["TASK_RUNTIME"] == "+15ms"


def test_nodes_and_categories_on_one_side_only_are_added_or_removed():
    base = R.report([_run(10 * MS, nodes=2, events=0)], name="x")
    new = R.report([_run(10 * MS, nodes=3, events=2)], name="x")
    d = D.diff(base, new)
    c = d.changes()
    assert c[("nodes", "n2", "duration")].status == DR.ADDED
    assert c[("events", "workflow", "count")].status == DR.ADDED
    back = D.diff(new, base).changes()
    assert back[("nodes", "n2", "duration")].status == DR.REMOVED
    assert "- n2:  # added" in render_diff(d)


def test_a_clear_shift_between_run_sets_is_a_regression_and_its_reverse_an_improvement():
    base = _doc([100, 104, 98, 101, 99, 103, 97, 102])
    new = _doc([150, 149, 155, 152, 148, 151, 153, 147])
    c = D.diff(base, new).changes()[("duration",)]
    assert c.verdict == DR.REGRESSED and c.q is not None and c.q < D.DEFAULT_LEVEL
    assert c.ci is not None and c.ci[0] > 1.05
    assert D.diff(new, base).changes()[("duration",)].verdict == DR.IMPROVED


def test_a_shift_smaller_than_the_noise_band_is_within_noise_even_if_significant():
    base = _doc([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007])
    new = _doc([1020, 1021, 1022, 1023, 1024, 1025, 1026, 1027])  # +2%: real, but inside +-5%
    c = D.diff(base, new).changes()[("duration",)]
    assert c.q is not None and c.q < D.DEFAULT_LEVEL
    assert c.verdict == DR.WITHIN_NOISE
    assert D.diff(base, new, noise=0.01).changes()[("duration",)].verdict == DR.REGRESSED


def test_identical_distributions_are_within_noise():
    rng = np.random.default_rng(3)
    samples = list(rng.normal(1000, 50, 12))
    other = list(rng.permutation(samples))
    assert D.diff(_doc(samples), _doc(other)).changes()[("duration",)].verdict == DR.WITHIN_NOISE


def test_bootstrap_is_seeded_so_the_verdict_is_reproducible():
    base, new = _doc([100, 110, 90, 105, 95]), _doc([120, 100, 130, 95, 125])
    assert D.diff(base, new, seed=1).changes() == D.diff(base, new, seed=1).changes()


def _chains(runtimes: dict[str, list[int]]) -> dict:
    """A benchmark document as `otel-fold bench` builds it: one entry per workflow (a one-task chain per run)."""
    doc: dict = {}
    for name, rs in runtimes.items():
        doc.update(R.report([_run(r, nodes=1, exec_id=f"{name}{i}") for i, r in enumerate(rs)], name=name))
    return doc


def test_entries_of_two_documents_are_matched_by_key_and_one_sided_ones_are_added_or_removed():
    base = _chains({"a": [10 * MS, 10 * MS], "b": [20 * MS, 20 * MS], "gone": [5 * MS]})
    new = _chains({"b": [50 * MS, 50 * MS], "fresh": [7 * MS], "a": [15 * MS, 15 * MS]})  # other order
    diffs = {d.new_key: d for d in D.diff_documents(base, new)}
    assert list(diffs) == [
        "flyte.benchmark.a",
        "flyte.benchmark.b",
        "flyte.benchmark.gone",
        "flyte.benchmark.fresh",
    ]
    a, b = diffs["flyte.benchmark.a"].changes(), diffs["flyte.benchmark.b"].changes()
    assert a[("nodes", "n0", "segments", "TASK_RUNTIME")].delta == 5 * MS
    assert b[("nodes", "n0", "segments", "TASK_RUNTIME")].delta == 30 * MS
    assert b[("duration",)].delta == 30 * MS
    assert {c.status for c in diffs["flyte.benchmark.gone"].changes().values()} == {DR.REMOVED}
    assert {c.status for c in diffs["flyte.benchmark.fresh"].changes().values()} == {DR.ADDED}
    assert [d.status for d in diffs.values()] == [DR.CHANGED, DR.CHANGED, DR.REMOVED, DR.ADDED]
    assert "on one side only" in diffs["flyte.benchmark.fresh"].method
    # An entry's estimates are those of diffing it alone (its resamples are its own); only the adjustment for
    # the diff's other values (q) depends on them.
    alone = D.diff({"k": base["flyte.benchmark.b"]}, {"k": new["flyte.benchmark.b"]}).changes()
    together = diffs["flyte.benchmark.b"].changes()
    assert {p: (c.ratio, c.ci, c.p) for p, c in alone.items()} == {
        p: (c.ratio, c.ci, c.p) for p, c in together.items()
    }


def test_two_single_entry_documents_are_compared_whatever_their_keys():
    (d,) = D.diff_documents(
        R.report([_run(10 * MS, exec_id="ex0")]), R.report([_run(12 * MS, exec_id="ex1")])
    )
    assert (d.base_key, d.new_key, d.status) == ("ex0", "ex1", DR.CHANGED)
    assert d.changes()[("nodes", "n0", "duration")].delta == 2 * MS


def test_zeros_in_per_run_values_give_finite_ratios_and_intervals() -> None:
    # No retry (0 ns of NODE_RESET) is a value: logs are taken after an offset, so nothing is nan or infinite.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = D.diff(_doc([0, 0, 0, 1000]), _doc([1000, 2000, 3000, 4000])).changes()[("duration",)]
    assert c.ratio is not None and c.ci is not None and c.mde is not None
    assert all(np.isfinite([c.ratio, *c.ci, c.mde])) and c.ratio > 1


def test_notable_keeps_only_what_moved_and_what_is_one_sided():
    # one run a side, so "moved" means a non-zero delta: the runtime (and what sums it) moved, the
    # scheduling latency did not, and 2 workflow events less is a change of count
    base = R.report([_run(10 * MS, events=3)], name="chain")
    new = R.report([_run(25 * MS, events=1)], name="chain")
    kept = D.notable(D.diff(base, new)).changes()
    assert ("nodes", "n1", "segments", "TASK_RUNTIME") in kept and ("events", "workflow", "count") in kept
    assert ("nodes", "n1", "schedulingLatency") not in kept
    assert all(c.delta for c in kept.values())
    # assessed: only regressed/improved survive; identical run sets leave nothing
    same = D.notable(D.diff(_doc([10, 11, 12, 13, 14]), _doc([10, 11, 12, 13, 14])))
    assert same.tree == {}
    moved = D.notable(D.diff(_doc([10, 11, 12, 13, 14]), _doc([30, 31, 32, 33, 34])))
    assert moved.changes()[("duration",)].verdict == DR.REGRESSED


def test_a_higher_user_code_share_is_an_improvement_and_a_lower_one_a_regression():
    # Overhead shares move the other way: the same rise in flyteOverhead is a regression.
    def doc(user: list[float], overhead: list[float]) -> dict:
        runs = [
            {"execution": f"r{i}", "userCode": u, "flyteOverhead": o}
            for i, (u, o) in enumerate(zip(user, overhead, strict=True))
        ]
        return R.report(runs, name="shares")

    low = [0.50, 0.52, 0.49, 0.51, 0.50, 0.53, 0.48, 0.51]
    high = [0.80, 0.79, 0.82, 0.81, 0.78, 0.80, 0.83, 0.79]
    base, new = doc(low, low), doc(high, high)
    up = D.diff(base, new).changes()
    assert up[("userCode",)].verdict == DR.IMPROVED
    assert up[("flyteOverhead",)].verdict == DR.REGRESSED
    down = D.diff(new, base).changes()
    assert down[("userCode",)].verdict == DR.REGRESSED
    assert down[("flyteOverhead",)].verdict == DR.IMPROVED


def test_a_value_on_one_side_where_the_other_has_a_mapping_is_an_error_naming_the_place():
    base, new = {"x": {"duration": 1 * MS}}, {"x": {"duration": {"p50": 1 * MS}}}
    for a, b in ((base, new), (new, base)):  # either order: the tree cannot hold both
        with pytest.raises(
            AnalyzerError, match=r"^BASE and NEW differ in shape at x\.duration: a value in one"
        ):
            D.diff_documents(a, b)
