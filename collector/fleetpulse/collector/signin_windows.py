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
from collections.abc import Iterable, Sequence

import numpy as np

from fleetpulse.collector.grouped import Grouped, at_least, at_most, exact_percentile
from fleetpulse.collector.model import SigninTotal, SigninWindows, WindowFigures
from fleetpulse.collector.report.figures import LONG_SECONDS
from fleetpulse.collector.store.figure_reads import Codes, Seconds

#: window label -> seconds: the last day, week and 28 days (the SLO's window)
WINDOWS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "28d": 28 * 86400.0}
#: the percentiles exported (as the ``quantile`` label 0.5 and 0.95)
PERCENTILES = (50, 95)
SLO_SECONDS = 120.0  # the report's default --slo and the boards' target


def window_end(now: float) -> float:
    """The end of the windows: ``now`` cut to a whole second, so that the report can be
    asked for the very same period (its points are whole seconds)."""
    return float(math.floor(now))


def _figures(grouped: Grouped, group: int, slo: float) -> WindowFigures:
    known = grouped.known(group)
    return WindowFigures(
        signins=grouped.count(group),
        known=len(known),
        within_slo=at_most(known, slo),
        long=at_least(known, LONG_SECONDS),
        percentiles={p: exact_percentile(known, p) for p in PERCENTILES},
    )


def from_columns(
    site: Codes,
    started: Seconds,
    total: Seconds,
    names: Sequence[str],
    until: float,
    sites: Iterable[str] = (),
    slo: float = SLO_SECONDS,
) -> SigninWindows:
    """The window figures at ``until`` from SLA sign-ins as columns: each one's site
    (``site``, codes of ``names``, which are distinct), start (Unix seconds) and duration
    (seconds, NaN: unknown). Rows outside ``[until - 28d, until)`` are ignored. Every site
    in ``sites`` (the sites with devices) or with a sign-in has figures in every window:
    zero sign-ins when it had none there, never a missing series."""
    inside = (started >= until - max(WINDOWS.values())) & (started < until)
    # one stable sort by duration serves every window and grouping (NaN last)
    order = np.flatnonzero(inside)[np.argsort(total[inside], kind="stable")]
    site, started, total = site[order], started[order], total[order]
    every_site = sorted({names[c] for c in np.unique(site)} | set(sites))
    position = {name: i for i, name in enumerate(every_site)}
    # names without a sign-in inside are never looked up: any position serves them
    recode = np.array([position.get(name, 0) for name in names], dtype=np.intp)
    by_position = recode[site] if len(recode) else site
    out = SigninWindows(until=until, slo_seconds=slo)
    for name, span in WINDOWS.items():
        w = started >= until - span
        fleet = Grouped(np.zeros(int(w.sum()), dtype=np.intp), total[w], 1, ascending=True)
        out.fleet[name] = _figures(fleet, 0, slo)
        per_site = Grouped(by_position[w], total[w], len(every_site), ascending=True)
        for i, each in enumerate(every_site):
            out.sites[(name, each)] = _figures(per_site, i, slo)
    return out


def compute(
    rows: Iterable[SigninTotal],
    until: float,
    sites: Iterable[str] = (),
    slo: float = SLO_SECONDS,
) -> SigninWindows:
    """``from_columns`` of stored sign-ins as rows (flagged ones are left out here)."""
    sla = [r for r in rows if not r.flagged]
    names: dict[str, int] = {}
    site = np.array([names.setdefault(r.site, len(names)) for r in sla], dtype=np.intp)
    started = np.array([r.started_at for r in sla], dtype=np.float64)
    total = np.array([r.total_seconds for r in sla], dtype=np.float64)  # None: NaN
    return from_columns(
        site.reshape(-1), started.reshape(-1), total, list(names), until, sites, slo
    )
