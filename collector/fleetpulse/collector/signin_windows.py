"""The boards' headline figures by event time: sign-ins, within the SLO, 30 minutes or more
and exact percentiles over the standard windows, computed from the store as the SLA report
computes them.

Histograms count a sign-in when it is ingested, and ``increase()`` misses the first sample
of a new series, so boards that read them disagree with the store. These figures come from
the stored sign-ins instead: a window ``W`` ending at ``until`` holds the sign-ins that
*started* in ``[until - W, until)`` — the report's ``--since until-W --until until`` — with
the report's rules (fleetpulse.collector.report.data): flagged sign-ins (first_login or
after_update) left out, unknown durations counted in ``signins`` and nowhere else, within
the SLO is ``total <= slo``, 30 minutes or more is ``total >= 1800``, percentiles exact by
linear interpolation between closest ranks (``report.data.percentile``, numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fleetpulse.collector.model import SigninTotal, SigninWindows, WindowFigures
from fleetpulse.collector.report.data import percentile
from fleetpulse.collector.report.figures import LONG_SECONDS

#: window label -> seconds: the last day, week and 28 days (the SLO's window)
WINDOWS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "28d": 28 * 86400.0}
#: the percentiles exported (as the ``quantile`` label 0.5 and 0.95)
PERCENTILES = (50, 95)
SLO_SECONDS = 120.0  # the report's default --slo and the boards' target


def window_end(now: float) -> float:
    """The end of the windows: ``now`` cut to a whole second, so that the report can be
    asked for the very same period (its points are whole seconds)."""
    return float(math.floor(now))


def figures(totals: Iterable[float | None], slo: float = SLO_SECONDS) -> WindowFigures:
    """The figures of the SLA sign-ins given by their durations (None: unknown)."""
    signins = 0
    known: list[float] = []
    for t in totals:
        signins += 1
        if t is not None:
            known.append(t)
    known.sort()
    return WindowFigures(
        signins=signins,
        known=len(known),
        within_slo=sum(1 for t in known if t <= slo),
        long=sum(1 for t in known if t >= LONG_SECONDS),
        percentiles={p: percentile(known, p) for p in PERCENTILES},
    )


def compute(
    rows: Iterable[SigninTotal],
    until: float,
    sites: Iterable[str] = (),
    slo: float = SLO_SECONDS,
) -> SigninWindows:
    """The window figures at ``until`` from the sign-ins of the longest window (rows
    outside ``[until - 28d, until)`` are ignored). Every site in ``sites`` (the sites with
    devices) or with a sign-in has figures in every window: zero sign-ins when it had none
    there, never a missing series."""
    start = until - max(WINDOWS.values())
    sla = [r for r in rows if not r.flagged and start <= r.started_at < until]
    every_site = sorted({r.site for r in sla} | set(sites))
    out = SigninWindows(until=until, slo_seconds=slo)
    for name, seconds in WINDOWS.items():
        inside = [r for r in sla if r.started_at >= until - seconds]
        out.fleet[name] = figures((r.total_seconds for r in inside), slo)
        by_site: dict[str, list[float | None]] = {site: [] for site in every_site}
        for r in inside:
            by_site[r.site].append(r.total_seconds)
        for site, totals in by_site.items():
            out.sites[(name, site)] = figures(totals, slo)
    return out
