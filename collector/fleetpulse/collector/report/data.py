"""Computes the SLA report's figures from the store, by event time; no formatting here."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from fleetpulse.collector.model import SigninRow
from fleetpulse.collector.report.figures import (
    PERCENTILES,
    UNUSED_SECONDS,
    Coverage,
    Durations,
    Flagged,
    SigninEntry,
    SiteFigures,
    SlaReport,
    UnusedDevice,
    WeekFigures,
)
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.phases import SIGNIN_CORE, SIGNIN_RESPONSIVE


def percentile(ordered: Sequence[float] | npt.NDArray[np.float64], p: float) -> float | None:
    """Exact percentile of sorted values, linear between closest ranks (numpy's default);
    of an array, a numpy float (the same value)."""
    if len(ordered) == 0:
        return None
    rank = (len(ordered) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (rank - lo) * (ordered[hi] - ordered[lo])


def dominant_phase(phases: dict[str, float]) -> tuple[str | None, float | None]:
    """The largest sub-phase (profile, group policy, ...) where any was measured, else the
    larger of core and responsive; (None, None) when no phase is known."""
    sub = {k: v for k, v in phases.items() if k not in (SIGNIN_CORE, SIGNIN_RESPONSIVE)}
    pool = sub or phases
    if not pool:
        return None, None
    name = max(sorted(pool), key=lambda k: pool[k])
    return name, pool[name]


def durations(entries: Iterable[SigninEntry], slo: float) -> Durations:
    signins = list(entries)
    known = sorted(s.total_seconds for s in signins if s.total_seconds is not None)
    return Durations(
        signins=len(signins),
        unknown=len(signins) - len(known),
        within_slo=sum(1 for t in known if t <= slo),
        long=sum(1 for s in signins if s.long),
        percentiles={p: percentile(known, p) for p in PERCENTILES},
    )


def _entry(row: SigninRow, include_flagged: bool) -> SigninEntry:
    name, seconds = dominant_phase(row.phases)
    flagged = bool(row.first_login) or bool(row.after_update)
    return SigninEntry(
        device_id=row.device_id,
        hostname=row.hostname,
        site=row.site,
        os=row.os,
        started_at=row.started_at,
        total_seconds=row.total_seconds,
        first_login=row.first_login,
        after_update=row.after_update,
        in_sla=include_flagged or not flagged,
        dominant_phase=name,
        dominant_phase_seconds=seconds,
    )


def iso_weeks(since: float, until: float) -> list[tuple[str, float, float]]:
    """The ISO weeks (UTC) overlapping [since, until), each clipped to it."""
    day = datetime.fromtimestamp(since, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = day - timedelta(days=day.weekday())
    weeks = []
    while monday.timestamp() < until:
        year, week, _ = monday.isocalendar()
        start, end = monday.timestamp(), (monday + timedelta(days=7)).timestamp()
        weeks.append((f"{year}-W{week:02d}", max(start, since), min(end, until)))
        monday += timedelta(days=7)
    return weeks


def _coverage(
    store: Store, reporting: set[str], devices: dict[str, tuple[str, str]]
) -> tuple[Coverage, dict[str, int], dict[str, int] | None]:
    """Overall coverage, reporting devices per site and expected devices per site.

    A reporting device covers the inventory entry with its hostname (case-insensitive);
    a re-enrolled machine under a second device id still covers one entry."""
    per_site: dict[str, int] = {}
    for dev in reporting:
        site = devices[dev][1]
        per_site[site] = per_site.get(site, 0) + 1
    expected = store.inventory_expected()  # aggregated in the database: bounded memory
    if not expected:
        return Coverage(len(reporting), None, None, None), per_site, None
    hosts = [devices[dev][0].lower() for dev in reporting]
    listed = store.inventory_listed(hosts)
    outside = sum(1 for h in hosts if h not in listed)
    return (
        Coverage(len(reporting), sum(expected.values()), len(listed), outside),
        per_site,
        expected,
    )


def build_report(
    store: Store,
    now: float,
    since_seconds: float,
    slo: float = 120.0,
    target: float = 0.95,
    include_flagged: bool = False,
) -> SlaReport:
    """The report over sign-ins that started in [now - since_seconds, now)."""
    since = now - since_seconds
    entries = [_entry(r, include_flagged) for r in store.signins_between(since, now)]
    sla = [e for e in entries if e.in_sla]
    flagged = [e for e in entries if e.flagged]
    boots = store.boots_between(since, now)
    devices = store.device_activity()
    known = {d.device_id: (d.hostname, d.site) for d in devices}
    reporting = (
        {e.device_id for e in entries}
        | {b.device_id for b in boots}
        # last contact inside the period; for a past period a later contact says nothing
        # about it, so such a device counts only through its sign-ins and boots (under-,
        # never over-counted)
        | {d.device_id for d in devices if d.last_seen is not None and since <= d.last_seen < now}
    ) & set(known)
    coverage, reporting_per_site, expected = _coverage(store, reporting, known)

    by_site: dict[str, list[SigninEntry]] = {}
    for e in sla:
        by_site.setdefault(e.site, []).append(e)
    sites = sorted(set(by_site) | set(reporting_per_site) | set(expected or {}))
    site_figures = [
        SiteFigures(
            site=site,
            devices_reporting=reporting_per_site.get(site, 0),
            devices_expected=None if expected is None else expected.get(site, 0),
            durations=durations(by_site.get(site, []), slo),
        )
        for site in sites
    ]

    weeks = []
    starts = [e.started_at for e in entries]  # both lists come sorted by event time
    boot_times = [b.boot_time for b in boots]
    for label, start, end in iso_weeks(since, now):
        in_week = entries[bisect_left(starts, start) : bisect_left(starts, end)]
        week_boots = boots[bisect_left(boot_times, start) : bisect_left(boot_times, end)]
        weeks.append(
            WeekFigures(
                week=label,
                start=start,
                end=end,
                durations=durations((e for e in in_week if e.in_sla), slo),
                signin_wait_seconds=math.fsum(
                    e.total_seconds for e in in_week if e.total_seconds is not None
                ),
                boot_wait_seconds=math.fsum(
                    b.total_seconds for b in week_boots if b.total_seconds is not None
                ),
                signins_unknown=sum(1 for e in in_week if e.total_seconds is None),
                boots=len(week_boots),
                boots_unknown=sum(1 for b in week_boots if b.total_seconds is None),
            )
        )

    unused = [
        UnusedDevice(dev, hostname, site, enrolled, last_signin)
        for dev, hostname, site, enrolled, _seen, revoked, last_signin in devices
        if not revoked
        and enrolled <= now - UNUSED_SECONDS
        and (last_signin is None or last_signin < now - UNUSED_SECONDS)
    ]

    return SlaReport(
        generated_at=now,
        since=since,
        until=now,
        slo_seconds=slo,
        target=target,
        fleet=durations(sla, slo),
        flagged=Flagged(
            first_login=sum(1 for e in flagged if e.first_login),
            after_update=sum(1 for e in flagged if e.after_update),
            either=len(flagged),
            long=sum(1 for e in flagged if e.long),
            included=include_flagged,
        ),
        coverage=coverage,
        sites=site_figures,
        weeks=weeks,
        unused=unused,
        signins=entries,
    )
