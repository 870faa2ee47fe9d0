"""Confidence intervals for the report: exact binomial bounds, score intervals for the
difference of two rates, and a seeded bootstrap for differences of percentiles.

Sources of each method:

- Clopper, C. J. & Pearson, E. S. (1934), "The use of confidence or fiducial limits
  illustrated in the case of the binomial", Biometrika 26(4): the exact interval, the beta
  quantiles ``Beta(a/2; k, n-k+1)`` and ``Beta(1-a/2; k+1, n-k)``. For k = 0 the one-sided
  upper bound has the closed form ``1 - a**(1/n)``. Computed with
  ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``.
- Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
  inference", JASA 22: the score interval of one rate
  (``proportion_ci(method="wilson")``).
- Newcombe, R. G. (1998), "Interval estimation for the difference between independent
  proportions: comparison of eleven methods", Statistics in Medicine 17, method 10: the
  hybrid score interval of ``p2 - p1`` from the two Wilson intervals.
- Efron, B. & Tibshirani, R. (1993), "An Introduction to the Bootstrap", ch. 13: the
  percentile interval of a statistic from resamples of each period independently
  (``scipy.stats.bootstrap(..., method="percentile")``), seeded so a report is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy
from numpy.typing import NDArray

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261001  # fixed: the same store gives the same report
# scipy.stats is imported where it is used: it takes over a second to import, and every
# collector command (serve included) imports this package.
_BATCH = 100  # resamples held in memory at once: 100 x n floats

Interval = tuple[float, float]


def exact_interval(k: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Two-sided exact (Clopper-Pearson) interval of a rate k/n, as shares in [0, 1].

    Raises ValueError when n < 1 or k is not in [0, n]."""
    _check(k, n)
    import scipy.stats

    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high)


def exact_upper_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided exact (Clopper-Pearson) upper bound of a rate k/n: with ``confidence``
    the true rate is below it. For k = 0 it equals ``1 - (1 - confidence) ** (1 / n)``."""
    _check(k, n)
    import scipy.stats

    test = scipy.stats.binomtest(k, n, alternative="less")
    return float(test.proportion_ci(confidence, method="exact").high)


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson (1927) score interval of a rate k/n."""
    _check(k, n)
    import scipy.stats

    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_difference(
    k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE
) -> tuple[float, Interval]:
    """The difference ``k2/n2 - k1/n1`` (after minus before) and its hybrid score interval
    (Newcombe 1998, method 10):
    ``d - sqrt((p2 - l2)^2 + (u1 - p1)^2)`` to ``d + sqrt((u2 - p2)^2 + (p1 - l1)^2)``."""
    p1, p2 = k1 / n1 if n1 else math.nan, k2 / n2 if n2 else math.nan
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p2 - p1
    return d, (d - math.hypot(p2 - l2, u1 - p1), d + math.hypot(u2 - p2, p1 - l1))


Statistic = Callable[..., Any]  # (values, axis=-1) -> the statistic along axis


def percentile_statistic(p: float) -> Statistic:
    """The p-th percentile (numpy's default "linear" method, as the report's figures)."""

    def stat(values: NDArray[numpy.float64], axis: int = -1) -> Any:
        return numpy.percentile(values, p, axis=axis)

    return stat


def mean_statistic(values: NDArray[numpy.float64], axis: int = -1) -> Any:
    return numpy.mean(values, axis=axis)


def bootstrap_difference(
    before: NDArray[numpy.float64],
    after: NDArray[numpy.float64],
    statistic: Statistic,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval | None:
    """Percentile-bootstrap interval (Efron) of ``statistic(after) - statistic(before)``,
    each period resampled on its own; None when either period has fewer than 2 values.
    Seeded: the same inputs always give the same interval."""
    if len(before) < 2 or len(after) < 2:
        return None

    import scipy.stats

    def diff(
        b: NDArray[numpy.float64], a: NDArray[numpy.float64], axis: int = -1
    ) -> NDArray[numpy.float64]:
        return numpy.asarray(statistic(a, axis=axis) - statistic(b, axis=axis))

    result = scipy.stats.bootstrap(
        (before, after),
        diff,
        n_resamples=resamples,
        batch=_BATCH,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=numpy.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def in_words(rate: float) -> str:
    """A small rate as people read it, rounded UP to 3 significant digits so a stated upper
    bound never claims more than the data show: 2.4156e-4 -> "2.42 in 10,000"."""
    if rate <= 0:
        return "0"
    exponent = 2
    while rate * 10**exponent < 1 and exponent < 9:
        exponent += 1
    scaled = rate * 10**exponent
    digits = max(0, 2 - math.floor(math.log10(scaled)))
    step = 10.0**-digits
    up = math.ceil(scaled / step - 1e-9) * step
    return f"{up:.{digits}f}".rstrip("0").rstrip(".") + f" in {10**exponent:,}"


def _check(k: int, n: int) -> None:
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n and n >= 1, got {k} of {n}")


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """k of n with its exact interval: one-sided upper bound when k = 0, two-sided
    otherwise (Clopper-Pearson)."""

    k: int
    n: int
    confidence: float
    low: float
    high: float
    one_sided: bool

    @property
    def rate(self) -> float:
        return self.k / self.n


def rate_estimate(k: int, n: int, confidence: float = CONFIDENCE) -> RateEstimate:
    if k == 0:
        return RateEstimate(k, n, confidence, 0.0, exact_upper_bound(0, n, confidence), True)
    low, high = exact_interval(k, n, confidence)
    return RateEstimate(k, n, confidence, low, high, False)
