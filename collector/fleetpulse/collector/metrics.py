"""The collector's Prometheus metrics: ingest-time histograms/counters and fleet-state gauges.

Histograms and counters count records when this instance ingests them (sum them across
instances). Fleet-state gauges are read from the shared database and are the same on
every instance (aggregate them with max, never sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleetpulse.collector.model import (
    IN_PROGRESS_NAMED_AFTER,
    IN_PROGRESS_NAMED_MAX,
    FleetState,
    Incoming,
)
from fleetpulse.collector.tally import CounterTally, HistogramTally, Labels, collect_all
from fleetpulse.contract.phases import PROFILE_TYPES
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    Kind,
    SigninRecord,
    SigninState,
)

DURATION_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600)
LAG_BUCKETS = (
    1,
    5,
    15,
    60,
    300,
    900,
    3600,
    4 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    30 * 86400,
)
OTHER = "other"
#: The label tuple of each record kind (its value), made once.
_KIND_LABELS: dict[Kind, tuple[str]] = {k: (k.value,) for k in Kind}


class AppLabels:
    """Caps app label cardinality: allowlisted names, then the first ``top_n`` seen
    (seeded from the store's top apps by use at start), everything else ``other``."""

    def __init__(self, top_n: int = 50, allowlist: Iterable[str] = ()) -> None:
        self.top_n = top_n
        self.allow = {a.casefold() for a in allowlist}
        self.admitted: set[str] = set()

    def seed(self, apps: Iterable[str]) -> None:
        for app in apps:
            self.label(app)

    def label(self, app: str) -> str:
        name = app.casefold()
        if name in self.allow or name in self.admitted:
            return name
        if len(self.admitted) < self.top_n and _printable(name):
            self.admitted.add(name)
            return name
        return OTHER


class ContributorLabels:
    """Caps the ``(kind, name)`` label pairs of sign-in contributors (and, in a second
    instance, of boot culprits) the way AppLabels caps apps: profile types (a closed
    vocabulary) and allowlisted names, then the first ``top_n`` pairs seen (seeded from the
    store's top ones at start), everything else ``(kind, "other")``. Names keep the
    spelling first seen ("Drive Maps")."""

    def __init__(self, top_n: int = 50, allowlist: Iterable[str] = ()) -> None:
        self.top_n = top_n
        self.allow = {a.casefold() for a in allowlist}
        self.admitted: dict[tuple[str, str], str] = {}

    def seed(self, pairs: Iterable[tuple[str, str]]) -> None:
        for kind, name in pairs:
            self.label(kind, name)

    def label(self, kind: str, name: str) -> str:
        key = (kind, name.casefold())
        known = self.admitted.get(key)
        if known is not None:
            return known
        if not _printable(name):
            return OTHER
        free = (kind == "profile" and name in PROFILE_TYPES) or key[1] in self.allow
        if free or len(self.admitted) < self.top_n:
            self.admitted[key] = name
            return name
        return OTHER


def _printable(name: str) -> bool:
    return 0 < len(name) <= 64 and name.isprintable() and '"' not in name and "\\" not in name


class IngestMetrics(Collector):
    """The ingest-time histograms and counters, as tallies (fleetpulse.collector.tally):
    written by the event loop without locks, registered in ``registry`` as one collector."""

    def __init__(
        self,
        registry: CollectorRegistry,
        apps: AppLabels | None = None,
        contributors: ContributorLabels | None = None,
        culprits: ContributorLabels | None = None,
    ) -> None:
        self.apps = apps or AppLabels()
        self.contributor_labels = contributors or ContributorLabels()
        self.culprit_labels = culprits or ContributorLabels()
        self.login = HistogramTally(
            "fleetpulse_login_duration_seconds",
            "Sign-in duration (credentials accepted to responsive desktop), counted when ingested.",
            ["site", "os"],
            DURATION_BUCKETS,
        )
        self.login_phase = HistogramTally(
            "fleetpulse_login_phase_duration_seconds",
            "Sign-in phase durations.",
            ["os", "phase"],
            DURATION_BUCKETS,
        )
        self.boot = HistogramTally(
            "fleetpulse_boot_duration_seconds", "Boot duration.", ["site", "os"], DURATION_BUCKETS
        )
        self.boot_phase = HistogramTally(
            "fleetpulse_boot_phase_duration_seconds",
            "Boot phase durations.",
            ["os", "phase"],
            DURATION_BUCKETS,
        )
        self.boots = CounterTally(
            "fleetpulse_boots",
            "Boots by type and degradation.",
            ["site", "os", "boot_type", "degraded"],
        )
        self.foreground = CounterTally(
            "fleetpulse_app_foreground_seconds",
            "Seconds applications were in the foreground.",
            ["app"],
        )
        self.launches = CounterTally("fleetpulse_app_launches", "Application launches.", ["app"])
        self.crashes = CounterTally("fleetpulse_app_crashes", "Application crashes.", ["app"])
        self.contributors = CounterTally(
            "fleetpulse_login_contributor_seconds",
            "Seconds of complete sign-ins that went to each named contributor: a group policy "
            "extension, logon script, startup application or profile type (names capped like "
            "apps; the rest is 'other').",
            ["kind", "name"],
        )
        self.culprits = CounterTally(
            "fleetpulse_boot_culprit_seconds",
            "Seconds boots were slowed by each culprit Windows named (Diagnostics-Performance "
            "events 101-110: DegradationTime, else TotalTime), by kind and name (names capped "
            "like apps; the rest is 'other').",
            ["kind", "name"],
        )
        self.wait = CounterTally(
            "fleetpulse_wait_seconds",
            "Seconds people spent waiting for boot and sign-in.",
            ["site", "kind"],
        )
        self.records = CounterTally(
            "fleetpulse_ingest_records", "Records received, by outcome.", ["kind", "result"]
        )
        self.lag = HistogramTally(
            "fleetpulse_ingest_lag_seconds",
            "Collector receive time minus device measurement time.",
            ["kind"],
            LAG_BUCKETS,
        )
        self.spool_dropped = CounterTally(
            "fleetpulse_agent_dropped_records",
            "Records agents dropped from a full spool (as reported).",
            ["kind"],
        )
        self.queue_full = CounterTally(
            "fleetpulse_ingest_queue_full_records",
            "Records refused with RESOURCE_EXHAUSTED because the collector's write queue was "
            "full (backpressure: the agent keeps them and sends them again after the hint).",
            [],
        )
        self._tallies: tuple[HistogramTally | CounterTally, ...] = (
            self.login,
            self.login_phase,
            self.boot,
            self.boot_phase,
            self.boots,
            self.foreground,
            self.launches,
            self.crashes,
            self.contributors,
            self.culprits,
            self.wait,
            self.records,
            self.lag,
            self.spool_dropped,
            self.queue_full,
        )
        self._primed: set[tuple[str, str]] = set()
        for kind in ("boot", "signin", "signin_end", "app_usage", "health"):
            for result in ("accepted", "duplicate", "rejected"):
                self.records.touch((kind, result))
            self.spool_dropped.touch((kind,))
        self.queue_full.touch(())
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        return collect_all(self._tallies)

    def take(self) -> dict[str, dict[Labels, Any]]:
        """Every tally's series counted since the last ``take``, by family name, emptied: what
        an ingest worker process (fleetpulse.collector.worker) counted for one group, with
        app and contributor names not yet capped (see ``merge``)."""
        return {t.name: t.take() for t in self._tallies}

    def merge(self, taken: dict[str, dict[Labels, Any]]) -> None:
        """Adds what another process's IngestMetrics ``take``-s; app, contributor and boot
        culprit names are capped here, by this process's labels (AppLabels,
        ContributorLabels)."""
        for t in self._tallies:
            series = taken.get(t.name)
            if not series:
                continue
            if t is self.foreground or t is self.launches or t is self.crashes:
                t.merge(series, lambda labels: (self.apps.label(labels[0]),))
            elif t is self.contributors:
                t.merge(
                    series,
                    lambda labels: (labels[0], self.contributor_labels.label(*labels[:2])),
                )
            elif t is self.culprits:
                t.merge(series, lambda labels: (labels[0], self.culprit_labels.label(*labels[:2])))
            else:
                t.merge(series)

    def observe(self, site: str, os: str, accepted: list[Incoming], now: float) -> None:
        """Counts the records one report stored: one pass, sums per label set."""
        counts: dict[Kind, int] = {}
        lag = self.lag.observe
        site_os = (site, os)
        for inc in accepted:
            r = inc.record
            kind = r.kind
            counts[kind] = counts.get(kind, 0) + 1
            late = now - inc.observed_at
            lag(_KIND_LABELS[kind], late if late > 0.0 else 0.0)
            if isinstance(r, SigninRecord):
                if r.total_seconds is not None:
                    self.login.observe(site_os, r.total_seconds)
                    self.wait.inc((site, "login"), r.total_seconds)
                if r.state is SigninState.COMPLETE:
                    for p in r.phases:
                        self.login_phase.observe((os, p.name), p.seconds)
                    for k in r.contributors:
                        name = self.contributor_labels.label(k.kind, k.name)
                        self.contributors.inc((k.kind, name), k.seconds)
            elif isinstance(r, AppUsageRecord):
                app = (self.apps.label(r.app),)
                if r.foreground_seconds:
                    self.foreground.inc(app, r.foreground_seconds)
                if r.launches:
                    self.launches.inc(app, r.launches)
                if r.crashes:
                    self.crashes.inc(app, r.crashes)
            elif isinstance(r, BootRecord):
                if r.total_seconds is not None:
                    self.boot.observe(site_os, r.total_seconds)
                    self.wait.inc((site, "boot"), r.total_seconds)
                for p in r.phases:
                    self.boot_phase.observe((os, p.name), p.seconds)
                for c in r.culprits:
                    self.culprits.inc(
                        (c.kind, self.culprit_labels.label(c.kind, c.name)), c.seconds
                    )
                degraded = "unknown" if r.degraded is None else str(r.degraded).lower()
                self.boots.inc((site, os, r.boot_type.value, degraded))
            # HealthRecord: cumulative per device; stored, not summed here
        for kind, n in counts.items():
            self.records.inc(_KIND_LABELS[kind] + ("accepted",), n)

    def prime(self, site: str, os: str) -> None:
        """Creates a site/OS's series at zero before its first event, so that rate() and
        increase() see that first event too."""
        key = (site, os)
        if key in self._primed:
            return
        self._primed.add(key)
        self.login.touch(key)
        self.boot.touch(key)
        for kind in ("boot", "login"):
            self.wait.touch((site, kind))

    def agent_dropped(self, by_kind: dict[str, int]) -> None:
        for kind, n in by_kind.items():
            self.spool_dropped.inc((kind,), n)

    def duplicates(self, by_kind: dict[str, int]) -> None:
        for kind, n in by_kind.items():
            self.records.inc((kind, "duplicate"), n)

    def refused_queue_full(self, records: int) -> None:
        self.queue_full.inc((), records)

    def rejected(self, by_kind: dict[str, int]) -> None:
        for kind, n in by_kind.items():
            self.records.inc((kind, "rejected"), n)


#: the failed-authentication reasons per RPC (a fixed set: bounded label values)
AUTH_REASONS = {
    "Enroll": ("malformed", "unknown", "revoked", "expired", "used_up"),
    "Report": ("missing", "unknown", "revoked", "wrong_credential"),
}


class AuthMetrics:
    """Failed authentications and the requests refused for them, per RPC (this instance;
    sum across instances)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.failures = Counter(
            "fleetpulse_auth_failures",
            "Failed authentications: a bad enrollment token on Enroll, a bad device "
            "credential on Report.",
            ["rpc", "reason"],
            registry=registry,
        )
        self.throttled = Counter(
            "fleetpulse_auth_throttled",
            "Requests refused with RESOURCE_EXHAUSTED because their peer address is over "
            "its failed-authentication budget.",
            ["rpc"],
            registry=registry,
        )
        for rpc, reasons in AUTH_REASONS.items():
            self.throttled.labels(rpc)
            for reason in (*reasons, OTHER):
                self.failures.labels(rpc, reason)

    def failure(self, rpc: str, reason: str) -> None:
        known = AUTH_REASONS.get(rpc)
        if known is None:
            return
        self.failures.labels(rpc, reason if reason in known else OTHER).inc()

    def refused(self, rpc: str) -> None:
        if rpc in AUTH_REASONS:
            self.throttled.labels(rpc).inc()


class RetentionMetrics:
    """Data retention: the span kept per kind and the events this instance pruned (sum the
    counter across instances: each pass deletes rows once, whichever instance runs it)."""

    def __init__(self, registry: CollectorRegistry | None, kept: dict[str, float]) -> None:
        self.pruned = Counter(
            "fleetpulse_store_pruned_records",
            "Stored events deleted for being older than the retention of their kind, by "
            "event time (sign-ins take their contributors with them).",
            ["kind"],
            registry=registry,
        )
        self.retention = Gauge(
            "fleetpulse_store_retention_seconds",
            "How long events of each kind are kept after their event time (serve --retain-*).",
            ["kind"],
            registry=registry,
        )
        for kind, seconds in kept.items():
            self.pruned.labels(kind)
            self.retention.labels(kind).set(seconds)

    def count(self, kind: str, rows: int) -> None:
        self.pruned.labels(kind).inc(rows)


class FleetStateCollector(Collector):
    """Renders the latest fleet-state snapshot (refreshed off the scrape path)."""

    def __init__(self) -> None:
        self.state = FleetState()
        self.expired: dict[str, int] = {}  # sign-ins in progress given up, since start

    def update(self, state: FleetState) -> None:
        """Takes a new snapshot and adds its newly expired sign-ins to the running totals."""
        for site in state.in_progress:
            self.expired.setdefault(site, 0)
        for site, n in state.in_progress_expired.items():
            self.expired[site] = self.expired.get(site, 0) + n
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.state
        devices = GaugeMetricFamily(
            "fleetpulse_devices",
            "Enrolled devices by reporting state.",
            labels=["site", "os", "agent_version", "state"],
        )
        for (site, os, version, state), n in sorted(s.devices.items()):
            devices.add_metric([site, os, version, state], n)
        yield devices
        conflicts = GaugeMetricFamily(
            "fleetpulse_device_identity_conflicts",
            "Active devices enrolled again from known hardware (reenrolled) or sharing an OS "
            "installation id with other hardware (clone_suspected).",
            labels=["site", "kind"],
        )
        for (site, kind), n in sorted(s.identity.items()):
            conflicts.add_metric([site, kind], n)
        yield conflicts
        yield _by_site(
            "fleetpulse_devices_expected",
            "Devices expected per site (imported inventory).",
            s.expected,
        )
        yield _by_site(
            "fleetpulse_devices_unused", "Enrolled devices with no sign-in for 14 days.", s.unused
        )
        yield _by_site(
            "fleetpulse_logins_in_progress",
            "Sign-ins started and not yet at a responsive desktop.",
            s.in_progress,
        )
        yield _by_site(
            "fleetpulse_login_in_progress_longest_seconds",
            "How long the longest sign-in in progress has lasted so far.",
            s.longest_in_progress,
        )
        expired = CounterMetricFamily(
            "fleetpulse_logins_in_progress_expired",
            "Sign-ins in progress given up after three report intervals without news of them "
            "(agent stopped, machine off). Every instance counts the same ones from the shared "
            "database: aggregate with max, never sum.",
            labels=["site"],
        )
        for site, n in sorted(self.expired.items()):
            expired.add_metric([site], n)
        yield expired
        yield from _waiting(s)
        yield from _windows(s)


def _waiting(s: FleetState) -> Iterator[Metric]:
    """Who is waiting: sign-ins in progress over the alert threshold, by device, and the
    30-minute sign-ins that ended in the last hour, by event time."""
    over = GaugeMetricFamily(
        "fleetpulse_login_in_progress_over_threshold",
        f"Seconds a sign-in in progress has lasted so far, for each device whose sign-in has "
        f"passed {IN_PROGRESS_NAMED_AFTER:.0f} s (the series exists only while it has), the "
        f"{IN_PROGRESS_NAMED_MAX} longest at most.",
        labels=["site", "hostname", "device_id"],
    )
    for w in s.over_threshold:
        over.add_metric([w.site, w.hostname, w.device_id], w.seconds)
    yield over
    ended = GaugeMetricFamily(
        "fleetpulse_logins_long_ended_last_hour",
        "Sign-ins of 30 minutes or more (flagged ones too) that ended in the last hour by "
        "event time (started_at + total), however late they were delivered.",
        labels=["site", "os"],
    )
    for (site, os), n in sorted(s.long_ended_last_hour.items()):
        ended.add_metric([site, os], n)
    yield ended


#: (metric suffix, WindowFigures attribute, help) of the per-site window counts
WINDOW_COUNTS = (
    ("signins", "signins", "SLA sign-ins (first-login and after-update ones out)"),
    ("known_duration", "known", "SLA sign-ins with a known duration"),
    ("within_slo", "within_slo", "SLA sign-ins of 120 s or less"),
    ("long", "long", "SLA sign-ins of 30 minutes or more"),
)


def _windows(s: FleetState) -> Iterator[Metric]:
    """The boards' headline figures by event time (fleetpulse.collector.signin_windows):
    the same figures as the SLA report for the window ending at the end timestamp."""
    w = s.windows
    if w is None:
        return
    end = GaugeMetricFamily(
        "fleetpulse_login_window_end_timestamp_seconds",
        "End (exclusive, Unix seconds) of the fleetpulse_login_window_* windows: a window W "
        "holds the sign-ins that started in [end - W, end).",
    )
    end.add_metric([], w.until)
    yield end
    for suffix, attr, doc in WINDOW_COUNTS:
        g = GaugeMetricFamily(
            f"fleetpulse_login_window_{suffix}",
            f"{doc} that started in the window (event time), per site; sum the sites for the "
            "fleet.",
            labels=["window", "site"],
        )
        for (window, site), f in sorted(w.sites.items()):
            g.add_metric([window, site], getattr(f, attr))
        yield g
    per_site = GaugeMetricFamily(
        "fleetpulse_login_window_seconds",
        "Exact percentiles of the SLA sign-in durations in the window, per site (no series: "
        "no known duration).",
        labels=["window", "site", "quantile"],
    )
    for (window, site), f in sorted(w.sites.items()):
        for p, v in f.percentiles.items():
            if v is not None:
                per_site.add_metric([window, site, _quantile(p)], v)
    yield per_site
    fleet = GaugeMetricFamily(
        "fleetpulse_login_window_fleet_seconds",
        "Exact percentiles of the SLA sign-in durations in the window, whole fleet (no "
        "series: no known duration).",
        labels=["window", "quantile"],
    )
    for window, f in sorted(w.fleet.items()):
        for p, v in f.percentiles.items():
            if v is not None:
                fleet.add_metric([window, _quantile(p)], v)
    yield fleet


def _quantile(p: int) -> str:
    return f"{p / 100:g}"


def _by_site(name: str, doc: str, values: dict[str, float] | dict[str, int]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["site"])
    for site, v in sorted(values.items()):
        g.add_metric([site], v)
    return g
