"""Orchestration percentiles: checked against numpy on the very samples recorded."""

from __future__ import annotations

import numpy as np
import pytest

import flyte_otel as fo
from analyzer import table as T
from analyzer.reduce.percentiles import category_stats, per_round_stats, stats
from flyte_otel.semconv import Category, EventKind, Phase
from tests import builders as B
from tests.builders import US


def _numpy(samples: list[int]) -> tuple[float, ...]:
    a = np.asarray(samples, dtype=np.float64)
    return (len(a), a.sum(), *np.percentile(a, [50, 90, 99]), a.max())


def test_category_percentiles_equal_numpy_on_the_recorded_durations():
    rng = np.random.default_rng(7)
    reads = [int(x) for x in rng.integers(1 * US, 900 * US, 537)]
    writes = [int(x) for x in rng.lognormal(12, 1.0, 211)]
    node_events = [int(x) for x in rng.integers(100, 50_000, 64)]
    with B.recording() as rec:
        clock = rec.clock
        for d in reads:
            with fo.blob_read("k", exec_id="ex", start=clock.advance(1 * US), end=clock.now + d):
                pass
        for d in writes:
            with fo.blob_write("k", exec_id="ex", start=clock.advance(1 * US), end=clock.now + d):
                pass
        for d in node_events:
            with fo.event(EventKind.NODE, "ex", node="n0", phase=Phase.RUNNING, start=clock.advance(1 * US),
                          end=clock.now + d):  # fmt: skip
                pass
        got = category_stats(rec.table())
    for cat, samples in ((Category.BLOBSTORE_READ, reads), (Category.BLOBSTORE_WRITE, writes),
                         (Category.EVENT_NODE, node_events)):  # fmt: skip
        s = got[cat]
        assert (s.count, s.total, s.p50, s.p90, s.p99, s.max) == pytest.approx(
            _numpy(samples), rel=0, abs=1e-6
        )


def test_streaks_per_round_count_rounds_without_streaks_as_zero():
    per_round = [3, 0, 1, 5, 0]  # the last round, by time and by position in the table, has none
    with B.recording() as rec:
        clock = rec.clock
        for n in per_round:
            with fo.round("ex", start=clock.advance(1 * US)):
                for _ in range(n):
                    with (
                        fo.streak("ex", start=clock.advance(1 * US), end=clock.advance(2 * US)),
                        fo.handle_node("ex", "n0", start=clock.advance(1), end=clock.advance(1)),
                    ):
                        pass
                clock.advance(1 * US)
        table = rec.table()
    got = per_round_stats(table)
    rounds = table.df[T.SPAN_ID][(table.df[T.CATEGORY] == Category.ROUND).to_numpy()]
    assert rounds.iloc[-1] not in set(table.df[T.PARENT_ID])
    s = got["streaksPerRound"]
    assert (s.count, s.total, s.p50, s.p90, s.p99, s.max) == pytest.approx(_numpy(per_round))
    assert got["nodesPerStreak"].count == sum(per_round) and got["nodesPerStreak"].max == 1
    assert got["roundGaps"].count == len(per_round) - 1


def test_stats_of_no_samples_is_zero():
    assert stats([]).count == 0


def test_a_node_handled_below_another_is_counted_under_its_nearest_streak():
    with B.recording() as rec:
        clock = rec.clock
        with (
            fo.round("ex", start=clock.advance(1 * US)),
            fo.streak("ex", start=clock.advance(1 * US)),
            fo.handle_node("ex", "n0", start=clock.advance(1 * US)),
            fo.handle_node("ex", "n0/n1", start=clock.advance(1 * US), end=clock.advance(1 * US)),
        ):
            clock.advance(1 * US)
        got = per_round_stats(rec.table())
    assert (got["nodesPerStreak"].count, got["nodesPerStreak"].max) == (1, 2)
