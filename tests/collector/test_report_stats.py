"""The report's statistics against known values: closed forms, published worked examples
(Newcombe 1998, "Two-sided confidence intervals for the single proportion" and "Interval
estimation for the difference between independent proportions", Statistics in Medicine 17),
and a seeded simulation with a known shift for the bootstrap."""

from __future__ import annotations

import numpy
import pytest

from fleetpulse.collector.report import stats


@pytest.mark.parametrize("n", [1, 20, 400, 12_400, 1_000_000])
def test_zero_of_n_upper_bound_is_the_closed_form(n: int) -> None:
    # P(0 of n | p) = (1 - p)^n = 0.05  <=>  p = 1 - 0.05^(1/n)
    assert stats.exact_upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_zero_of_12400_reads_fewer_than_2_42_in_10000() -> None:
    bound = stats.exact_upper_bound(0, 12_400)
    assert bound == pytest.approx(2.4156e-4, rel=1e-4)
    assert stats.in_words(bound) == "2.42 in 10,000"  # rounded up, never below the bound
    est = stats.rate_estimate(0, 12_400)
    assert (est.low, est.one_sided) == (0.0, True) and est.high == bound


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998a), Table I, method 5 (Clopper-Pearson exact), to 4 decimals
        (81, 263, 0.2527, 0.3676),
        (15, 148, 0.0578, 0.1617),
        (0, 20, 0.0, 0.1684),
        (1, 29, 0.0009, 0.1776),
    ],
)
def test_k_of_n_exact_interval_matches_published_values(
    k: int, n: int, low: float, high: float
) -> None:
    got = stats.exact_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)
    assert stats.rate_estimate(k, n).one_sided is (k == 0)


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (1998a), Table I, method 3 (Wilson score, no continuity correction)
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert stats.wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        # Newcombe (1998b), Table II, method 10 (hybrid score, no continuity correction):
        # the interval of p_a - p_b; here before = b and after = a, so the difference is the same
        (48, 80, 56, 70, 0.0524, 0.3339),
        (3, 10, 9, 10, 0.1705, 0.8090),
        (2, 7, 6, 7, 0.0582, 0.8062),
        (0, 29, 5, 56, -0.0381, 0.1926),
    ],
)
def test_difference_of_two_rates_matches_newcombe_worked_examples(
    k1: int, n1: int, k2: int, n2: int, low: float, high: float
) -> None:
    d, interval = stats.newcombe_difference(k1, n1, k2, n2)
    assert d == pytest.approx(k2 / n2 - k1 / n1)
    assert interval == pytest.approx((low, high), abs=5e-5)
    # before and after swapped: the same interval, mirrored
    d2, (l2, h2) = stats.newcombe_difference(k2, n2, k1, n1)
    assert (d2, l2, h2) == pytest.approx((-d, -high, -low), abs=5e-5)


def test_bootstrap_covers_a_known_shift_and_excludes_zero() -> None:
    rng = numpy.random.default_rng(11)
    before = rng.lognormal(numpy.log(60.0), 0.4, 3000)
    after = before[:2500] * 0.8  # every sign-in 20 % faster: p95 falls by 20 %
    true_shift = numpy.percentile(before, 95) * -0.2
    low, high = stats.bootstrap_difference(before, after, stats.percentile_statistic(95)) or (
        0.0,
        0.0,
    )
    measured = numpy.percentile(after, 95) - numpy.percentile(before, 95)
    assert low < measured < high and high < 0  # excludes zero: the change is shown
    assert low < true_shift < high
    # seeded: the same data give the same interval
    again = stats.bootstrap_difference(before, after, stats.percentile_statistic(95))
    assert again == (low, high)


def test_bootstrap_of_no_change_includes_zero_and_needs_two_values() -> None:
    rng = numpy.random.default_rng(5)
    a, b = rng.exponential(50.0, 800), rng.exponential(50.0, 800)
    low, high = stats.bootstrap_difference(a, b, stats.percentile_statistic(50)) or (1.0, 1.0)
    assert low < 0 < high
    assert stats.bootstrap_difference(a, numpy.array([3.0]), stats.mean_statistic) is None


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (0.26, "26 in 100"),
        (0.0247, "2.47 in 100"),
        (1 / 3, "33.4 in 100"),
        (2.4156e-4, "2.42 in 10,000"),
        (1e-7, "1 in 10,000,000"),
        (0.01, "1 in 100"),
    ],
)
def test_rates_in_words_round_up(rate: float, words: str) -> None:
    assert stats.in_words(rate) == words


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_impossible_counts_are_refused(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        stats.exact_interval(k, n)
