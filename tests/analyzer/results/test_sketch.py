"""The benchmark file's sketches: ddsketch's buckets (the library is the oracle), bounded, and read back exactly."""

from __future__ import annotations

import numpy as np
import pytest
from ddsketch.mapping import LogarithmicMapping

from analyzer.results.sketch import (
    ACCURACY,
    MAX_BINS,
    SketchError,
    keys_of,
    parse_sketch,
    sketch_of,
    values_of,
)


def test_buckets_are_ddsketch_logarithmic_mapping_keys_and_values():
    mapping = LogarithmicMapping(ACCURACY)
    durations = np.random.default_rng(1).lognormal(np.log(8e6), 2.0, 2000)
    assert keys_of(durations).tolist() == [mapping.key(float(d)) for d in durations]
    keys = np.unique(keys_of(durations))
    assert np.allclose(values_of(keys), [mapping.value(int(k)) for k in keys], rtol=1e-12)
    # every duration is within the accuracy of its bucket's value
    assert np.all(np.abs(values_of(keys_of(durations)) / durations - 1) <= ACCURACY + 1e-12)


def test_a_sketch_reads_back_from_its_text_with_every_duration_counted():
    durations = np.concatenate([np.random.default_rng(2).lognormal(np.log(3e6), 0.7, 500), [0, 0.5]])
    s = sketch_of(durations)
    back = parse_sketch(s.text())
    assert back.count == len(durations) and back.zeros == 2
    assert back.keys.tolist() == s.keys.tolist() and back.counts.tolist() == s.counts.tolist()


def test_a_sketch_is_bounded_whatever_the_span_count_and_spread():
    # a million durations spread over 1 ns .. 10**18 ns: more keys than MAX_BINS, folded into the lowest kept
    durations = np.exp(np.random.default_rng(3).uniform(0, np.log(1e18), 1_000_000))
    s = sketch_of(durations)
    assert len(s.keys) == MAX_BINS and s.count == len(durations)
    assert len(s.text()) < 40 * MAX_BINS
    assert s.keys[-1] == keys_of([durations.max()])[0]  # the top (the tail a percentile reads) is exact


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ddsketch/1 a=0.01", "to start the sketch"),
        ("ddsketch/1 a=0.01 z=-1", "to start the sketch"),
        ("ddsketch/1 a=0.01 z=0 1:1 1:2", "must ascend"),
        ("ddsketch/1 a=0.01 z=0 99999:1", "must ascend, each within"),
        ("ddsketch/1 a=0.01 z=0 1:9999999999999999", r"under 2\*\*53"),
    ],
)
def test_a_malformed_sketch_is_one_line_saying_what_is_wrong(text: str, says: str):
    with pytest.raises(SketchError, match=says) as e:
        parse_sketch(text)
    assert "\n" not in str(e.value)
