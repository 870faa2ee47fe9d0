"""Exact per-group figures of durations with numpy: one stable sort by (group, duration),
after which each group's known durations are one slice of the sorted array.

The figures are those of the per-row Python code this replaced, to the last bit: the
percentiles are ``report.data.percentile`` (linear between closest ranks, numpy's default)
of the slice, and the sort is stable, so equal durations keep the order the rows came in,
as ``sorted`` keeps them per group; the counts compare as the report does (``<=`` the SLO,
``>=`` 30 minutes).
"""

from __future__ import annotations

import numpy as np

from fleetpulse.collector.report.data import percentile
from fleetpulse.collector.store.figure_reads import Codes, Seconds


class Grouped:
    """Durations by group: ``groups`` codes (0 .. n - 1) and ``totals`` seconds (NaN:
    unknown) of the same rows; ``ascending``: the rows are already in a stable order of
    their durations (saves the sort by duration). ``count`` counts every row of a group,
    ``known`` holds its known durations only."""

    def __init__(self, groups: Codes, totals: Seconds, n: int, ascending: bool = False) -> None:
        self._count = np.bincount(groups, minlength=n)
        has = ~np.isnan(totals)
        g, t = groups[has], totals[has]
        if not ascending:  # stable: equal durations keep the rows' order
            by_total = np.argsort(t, kind="stable")
            g, t = g[by_total], t[by_total]
        # then stable by group: a radix sort where the codes fit 16 bits
        small = g.astype(np.int16) if n <= np.iinfo(np.int16).max else g
        by_group = np.argsort(small, kind="stable")
        self._sorted = t[by_group]
        known = np.bincount(g, minlength=n)
        self._ends = np.cumsum(known)
        self._starts = self._ends - known

    def count(self, group: int) -> int:
        """Rows of ``group``, known duration or not."""
        return int(self._count[group])

    def known(self, group: int) -> Seconds:
        """The known durations of ``group``, ascending (a view into shared memory)."""
        return self._sorted[int(self._starts[group]) : int(self._ends[group])]


def at_most(ordered: Seconds, limit: float) -> int:
    """How many of the ascending ``ordered`` are ``<= limit``."""
    return int(np.searchsorted(ordered, limit, side="right"))


def at_least(ordered: Seconds, limit: float) -> int:
    """How many of the ascending ``ordered`` are ``>= limit``."""
    return len(ordered) - int(np.searchsorted(ordered, limit, side="left"))


def exact_percentile(ordered: Seconds, p: float) -> float | None:
    """``report.data.percentile`` of the ascending ``ordered``, as a Python float; None
    when it is empty."""
    value = percentile(ordered, p)
    return None if value is None else float(value)
