"""Self time and Trace Statistics, checked against Jaeger UI's own test oracle and hand-computed trees."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from analyzer import table as t
from analyzer.execution import stitch
from analyzer.load import load
from analyzer.reduce.self_time import self_time, statistics
from analyzer.table import SpanTable

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"
JAEGER_UI_TRACE = FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json"


def _ms(stats, key: str) -> dict[str, float]:
    row = stats.loc[key]
    return {c: (int(row[c]) if c == "count" else round(row[c] / 1e6, 2) if c != "percent" else round(row[c], 2))
            for c in stats.columns}  # fmt: skip


def test_statistics_by_service_reproduce_the_jaeger_ui_oracle():
    stats = statistics(stitch(load(JAEGER_UI_TRACE)), "service")
    # packages/jaeger-ui/src/components/TracePage/TraceStatistics/tableValues.test.js (PROVENANCE.md)
    assert _ms(stats, "api-gateway") == {
        "count": 2, "total": 7.4, "avg": 3.7, "min": 2.5, "max": 4.9,
        "self_total": 3.16, "self_avg": 1.58, "self_min": 0.76, "self_max": 2.4, "percent": 64.52,
    }  # fmt: skip
    assert _ms(stats, "customers-service") == {
        "count": 3, "total": 1.81, "avg": 0.6, "min": 0.02, "max": 1.74,
        "self_total": 1.74, "self_avg": 0.58, "self_min": 0.02, "self_max": 1.67, "percent": 35.48,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "count", "total", "self_total", "percent"),
    [
        ("GET /api/customer/owners/8/pets/10", 1, 4.9, 2.4, 49.02),
        ("GET /owners/8/pets/10", 2, 4.24, 2.43, 49.49),
        ("HikariProxyPreparedStatement.executeQuery", 2, 0.07, 0.07, 1.49),
    ],
)
def test_statistics_by_operation_reproduce_the_jaeger_ui_oracle(operation, count, total, self_total, percent):
    got = _ms(statistics(stitch(load(JAEGER_UI_TRACE)), "operation"), operation)
    assert (got["count"], got["total"], got["self_total"], got["percent"]) == (
        count,
        total,
        self_total,
        percent,
    )


def _table(rows, attributes=None) -> SpanTable:
    cols = {
        t.TRACE_ID: ["t"] * len(rows),
        t.SPAN_ID: [r[0] for r in rows],
        t.PARENT_ID: [r[1] for r in rows],
        t.NAME: [r[2] for r in rows],
        t.START: [r[3] for r in rows],
        t.END: [r[4] for r in rows],
    }
    if attributes is not None:
        cols[t.ATTRIBUTES] = attributes
    return SpanTable.from_columns(cols)


def test_overlapping_children_are_counted_once_and_clipped_to_the_parent():
    ex = stitch(_table([
        ("p", "", "parent", 0, 100),
        ("a", "p", "a", 10, 50),
        ("b", "p", "b", 30, 70),  # overlaps a: union 10..70
        ("c", "p", "c", 90, 120),  # clock skew: only 90..100 counts
        ("d", "p", "d", 40, 45),  # inside a: adds nothing
    ]))  # fmt: skip
    assert self_time(ex).tolist() == [100 - 60 - 10, 40, 40, 30, 5]


def test_child_wholly_outside_its_parent_takes_no_self_time():
    ex = stitch(_table([("p", "", "parent", 0, 100), ("a", "p", "a", 200, 300)]))
    assert self_time(ex).tolist() == [100, 100]


def test_self_times_of_nested_disjoint_children_add_up_to_the_root():
    rng = random.Random(3)
    rows = [("s0", "", "root", 0, 1_000_000)]

    def split(span_id: str, lo: int, hi: int, depth: int) -> None:
        if depth == 0 or hi - lo < 10:
            return
        cuts = sorted(rng.sample(range(lo, hi), 4))
        for k, (a, b) in enumerate(((cuts[0], cuts[1]), (cuts[2], cuts[3]))):
            child = f"{span_id}.{k}"
            rows.append((child, span_id, "x", a, b))
            split(child, a, b, depth - 1)

    split("s0", 0, 1_000_000, 6)
    ex = stitch(_table(rows))
    own = self_time(ex)
    assert (own >= 0).all()
    assert int(own.sum()) == 1_000_000


def test_statistics_group_by_an_attribute_that_is_not_a_column():
    ex = stitch(
        _table(
            [("p", "", "round", 0, 10), ("a", "p", "x", 0, 4), ("b", "p", "x", 4, 6)],
            attributes=[None, {"pod": "p1"}, {"pod": "p2"}],
        )
    )
    stats = statistics(ex, "pod")
    assert (
        stats.loc["p1", "total"] == 4 and stats.loc["p2", "total"] == 2 and stats.loc["", "self_total"] == 4
    )
    assert np.isclose(stats["percent"].sum(), 100.0)
