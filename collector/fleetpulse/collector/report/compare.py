"""Before and after: two periods side by side, with the difference and its 95 % interval.

Per scope (the fleet, then each site): p50 and p95 of the SLA sign-in durations (seeded
percentile bootstrap of the difference), the share within the SLO and the rate of sign-ins of
30 minutes or more (Newcombe's hybrid score interval for a difference of two rates), and the
staff-hours lost per device-week (seeded bootstrap over devices of the mean wait per device
and week). Differences are AFTER minus BEFORE. See ``stats`` for the sources of the methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy
from numpy.typing import NDArray

from fleetpulse.collector.report import stats
from fleetpulse.collector.report.figures import LONG_SECONDS, SlaReport
from fleetpulse.collector.store.base import Store

WEEK = 7 * 86400.0
COVERAGE_GAP = 0.05  # coverage shares further apart than this are warned about
FLEET = "(fleet)"

Floats = NDArray[numpy.float64]


@dataclass(frozen=True, slots=True)
class Sample:
    """One period's values, in memory for the bootstrap: the known durations of the SLA
    sign-ins and the hours each reporting device waited (sign-ins and boots), by site:
    None for a device none of whose records has a known duration (its wait is unknown)."""

    since: float
    until: float
    durations: dict[str, Floats]  # site -> seconds
    device_hours: dict[str, dict[str, float | None]]  # site -> device id -> hours waited
    devices: frozenset[str]  # device ids with a sign-in or a boot in the period

    @property
    def weeks(self) -> float:
        return (self.until - self.since) / WEEK

    def scope_durations(self, scope: str) -> Floats:
        if scope != FLEET:
            return self.durations.get(scope, numpy.zeros(0))
        parts = list(self.durations.values())
        return numpy.concatenate(parts) if parts else numpy.zeros(0)

    def _scope_hours(self, scope: str) -> list[float | None]:
        sites = list(self.device_hours) if scope == FLEET else [scope]
        return [h for s in sites for h in self.device_hours.get(s, {}).values()]

    def scope_devices(self, scope: str) -> int:
        """Devices of the scope with a sign-in or a boot in the period."""
        return len(self._scope_hours(scope))

    def scope_device_hours(self, scope: str) -> Floats:
        """Hours waited per device-week, one value per reporting device of the scope whose
        wait is known (at least one record of known duration)."""
        hours = [h for h in self._scope_hours(scope) if h is not None]
        return numpy.asarray(hours, dtype=numpy.float64) / self.weeks


def sample(store: Store, since: float, until: float, include_flagged: bool) -> Sample:
    """Reads one period's sign-ins and boots from the store (by event time)."""
    by_site: dict[str, list[float]] = {}
    hours: dict[str, dict[str, float | None]] = {}
    site_of: dict[str, str] = {}

    def wait(site: str, device: str, seconds: float | None) -> None:
        mine = hours.setdefault(site, {})
        known = mine.get(device)
        mine[device] = known if seconds is None else (known or 0.0) + seconds / 3600

    for r in store.signins_between(since, until):
        site_of[r.device_id] = r.site
        wait(r.site, r.device_id, r.total_seconds)
        flagged = bool(r.first_login) or bool(r.after_update)
        if r.total_seconds is not None and (include_flagged or not flagged):
            by_site.setdefault(r.site, []).append(r.total_seconds)
    for b in store.boot_details_between(since, until):
        site_of[b.device_id] = b.site
        wait(b.site, b.device_id, b.total_seconds)
    return Sample(
        since=since,
        until=until,
        durations={s: numpy.asarray(v, dtype=numpy.float64) for s, v in by_site.items()},
        device_hours=hours,
        devices=frozenset(site_of),
    )


@dataclass(frozen=True, slots=True)
class Estimate:
    """One figure in both periods, AFTER minus BEFORE, and the interval of that difference;
    None where it cannot be computed (no sign-in in a period, fewer than 2 values)."""

    metric: str  # p50_seconds, p95_seconds, share_within_slo, long_rate, hours_per_device_week
    label: str
    before: float | None
    after: float | None
    difference: float | None
    low: float | None
    high: float | None
    method: str

    @property
    def excludes_zero(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class ScopeComparison:
    scope: str  # FLEET or a site
    before_signins: int  # SLA sign-ins with a known duration
    after_signins: int
    before_devices: int  # devices with a sign-in or a boot
    after_devices: int
    estimates: list[Estimate]


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    since: float
    until: float
    signins: int  # SLA sign-ins with a known duration
    devices: int
    coverage: float | None  # share of the inventory covered; None without an inventory
    reporting_expected: int | None
    expected: int | None
    meets_target: bool | None
    long: int


@dataclass(frozen=True, slots=True)
class Comparison:
    before: PeriodSummary
    after: PeriodSummary
    scopes: list[ScopeComparison]  # the fleet first, then the sites by name
    warnings: list[str] = field(default_factory=list)
    confidence: float = stats.CONFIDENCE
    resamples: int = stats.BOOTSTRAP_RESAMPLES
    seed: int = stats.BOOTSTRAP_SEED


METHOD_BOOTSTRAP = (
    f"percentile bootstrap (Efron), {stats.BOOTSTRAP_RESAMPLES} resamples of each period,"
    f" seed {stats.BOOTSTRAP_SEED}"
)
METHOD_DEVICES = METHOD_BOOTSTRAP.replace("of each period", "of the devices of each period")
METHOD_NEWCOMBE = "Newcombe (1998) hybrid score interval from Wilson (1927) intervals"


def _percentile(p: float) -> Callable[[Floats, Floats], Estimate]:
    def estimate(before: Floats, after: Floats) -> Estimate:
        b = float(numpy.percentile(before, p)) if len(before) else None
        a = float(numpy.percentile(after, p)) if len(after) else None
        ci = stats.bootstrap_difference(before, after, stats.percentile_statistic(p))
        return Estimate(
            f"p{p:g}_seconds",
            f"p{p:g} sign-in (s)",
            b,
            a,
            None if a is None or b is None else a - b,
            None if ci is None else ci[0],
            None if ci is None else ci[1],
            METHOD_BOOTSTRAP,
        )

    return estimate


def _rate(metric: str, label: str, k1: int, n1: int, k2: int, n2: int) -> Estimate:
    before = k1 / n1 if n1 else None
    after = k2 / n2 if n2 else None
    if not n1 or not n2:
        return Estimate(metric, label, before, after, None, None, None, METHOD_NEWCOMBE)
    d, (low, high) = stats.newcombe_difference(k1, n1, k2, n2)
    return Estimate(metric, label, before, after, d, low, high, METHOD_NEWCOMBE)


def _scope(scope: str, a: Sample, b: Sample, slo: float) -> ScopeComparison:
    before, after = a.scope_durations(scope), b.scope_durations(scope)
    hb, ha = a.scope_device_hours(scope), b.scope_device_hours(scope)
    n1, n2 = len(before), len(after)
    ci = stats.bootstrap_difference(hb, ha, stats.mean_statistic)
    wait_b = float(hb.mean()) if len(hb) else None
    wait_a = float(ha.mean()) if len(ha) else None
    estimates = [
        _percentile(50)(before, after),
        _percentile(95)(before, after),
        _rate(
            "share_within_slo",
            f"within the SLO ({slo:g} s)",
            int((before <= slo).sum()),
            n1,
            int((after <= slo).sum()),
            n2,
        ),
        _rate(
            "long_rate",
            "took ≥ 30 min",
            int((before >= LONG_SECONDS).sum()),
            n1,
            int((after >= LONG_SECONDS).sum()),
            n2,
        ),
        Estimate(
            "hours_per_device_week",
            "staff-hours lost per device-week",
            wait_b,
            wait_a,
            None if wait_a is None or wait_b is None else wait_a - wait_b,
            None if ci is None else ci[0],
            None if ci is None else ci[1],
            METHOD_DEVICES,
        ),
    ]
    return ScopeComparison(scope, n1, n2, a.scope_devices(scope), b.scope_devices(scope), estimates)


def _summary(report: SlaReport, s: Sample) -> PeriodSummary:
    c = report.coverage
    return PeriodSummary(
        since=s.since,
        until=s.until,
        signins=report.fleet.known,
        devices=len(s.devices),
        coverage=c.share,
        reporting_expected=c.reporting_expected,
        expected=c.expected,
        meets_target=report.meets_target,
        long=report.fleet.long,
    )


def _warnings(before: PeriodSummary, after: PeriodSummary, a: Sample, b: Sample) -> list[str]:
    out = []
    only_before, only_after = len(a.devices - b.devices), len(b.devices - a.devices)
    if only_before or only_after:
        out.append(
            f"The periods cover different devices: {only_before} reported only before and"
            f" {only_after} only after ({len(a.devices & b.devices)} in both); a difference may"
            " come from which devices reported, not from a change."
        )
    if (
        before.coverage is not None
        and after.coverage is not None
        and abs(before.coverage - after.coverage) > COVERAGE_GAP
    ):
        out.append(
            f"Coverage differs: {before.reporting_expected} of {before.expected} expected"
            f" devices before ({100 * before.coverage:.1f}%), {after.reporting_expected}"
            f" of {after.expected} after ({100 * after.coverage:.1f}%)."
        )
    if abs(a.weeks - b.weeks) > 1e-9:
        out.append(
            f"The periods differ in length ({a.weeks * 7:g} and {b.weeks * 7:g} days): compare"
            " rates and per-device-week figures, not totals."
        )
    return out


def compare(before_report: SlaReport, after_report: SlaReport, a: Sample, b: Sample) -> Comparison:
    """The comparison of two periods; ``*_report`` give the coverage and verdicts."""
    slo = after_report.slo_seconds
    sites = sorted(set(a.durations) | set(b.durations) | set(a.device_hours) | set(b.device_hours))
    before, after = _summary(before_report, a), _summary(after_report, b)
    return Comparison(
        before=before,
        after=after,
        scopes=[_scope(scope, a, b, slo) for scope in (FLEET, *sites)],
        warnings=_warnings(before, after, a, b),
    )
