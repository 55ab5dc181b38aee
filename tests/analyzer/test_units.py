"""Human durations: the forms the fold prints, and their exact round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest

from analyzer.units import format_bytes, format_duration, format_durations, parse_duration

US, MS, S, M, H = 1_000, 1_000_000, 1_000_000_000, 60_000_000_000, 3_600_000_000_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ns"),
        (999, "999ns"),
        (850 * US, "850µs"),
        (12_500, "12.5µs"),
        (12 * MS + 345 * US, "12.345ms"),
        (1_200 * MS, "1.2s"),
        (M + 53 * S, "1m53s"),
        (2 * M, "2m"),
        (H + 2 * M + 3 * S, "1h2m3s"),
        (-(1_500 * US), "-1.5ms"),
        (999_999_600, "1s"),  # rounds up into the next unit instead of printing 1000ms
    ],
)
def test_format_duration_prints_human_units(ns, text):
    assert format_duration(ns) == text


def test_exact_form_keeps_every_nanosecond():
    assert format_duration(M + 2 * S + 345_678, exact=True) == "1m2.000345678s"
    assert format_duration(1_234_567, exact=True) == "1.234567ms"


def test_exact_form_round_trips_for_any_duration():
    rng = random.Random(11)
    for _ in range(2_000):
        ns = rng.choice(
            [rng.randrange(1_000), rng.randrange(10**7), rng.randrange(10**13), -rng.randrange(10**12)]
        )
        assert parse_duration(format_duration(ns, exact=True)) == ns


@pytest.mark.parametrize("ns", [850 * US, 12 * MS + 345 * US, 1_200 * MS, M + 53 * S, 7 * H + 5 * S, 12_300])
def test_printed_form_round_trips_at_its_precision(ns):
    assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize(
    ("text", "ns"), [("850us", 850 * US), ("+2s", 2 * S), ("1h30m", 90 * M), (".5ms", 500 * US)]
)
def test_parse_duration_accepts_ascii_micro_and_signs(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "1.2.3s", "1 s", "1d", "ms"])
def test_parse_duration_rejects_what_is_not_a_duration(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_bytes_uses_binary_units():
    assert [format_bytes(n) for n in (512, 1536, 5 * 1024**2)] == ["512B", "1.5KiB", "5.0MiB"]


def test_bulk_formatting_prints_what_the_scalar_one_prints():
    rng = np.random.default_rng(7)
    # every scale, both signs, the rounding edges between units (999.95µs, 999.9995ms, 59.9999995s,
    # 59m59.9995s) and whole minutes and hours (no seconds shown)
    edges = [
        0,
        999,
        1_000,
        999_949,
        999_950,
        999_999_499,
        999_999_500,
        59_999_999_499,
        59_999_999_500,
        60 * 10**9,
        3_599_999_499_999,
        3_599_999_500_000,
        3_600 * 10**9,
        3_661_500_000_000,
    ]
    values = np.concatenate([
        10 ** rng.integers(0, 14, 20_000) * rng.integers(1, 10, 20_000) + rng.integers(-3, 4, 20_000),
        np.array(edges), -np.array(edges), np.array([2**62, -(2**62)]),
    ])  # fmt: skip
    assert format_durations(values) == [format_duration(int(v)) for v in values]
