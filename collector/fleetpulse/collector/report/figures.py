"""The SLA report's figures as plain typed values: what every renderer reads.

Unknown stays unknown: a figure that cannot be computed (no sign-in with a known duration,
no inventory imported) is ``None``, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetpulse.collector.report.boots import BootFigures
    from fleetpulse.collector.report.compare import Comparison
    from fleetpulse.collector.report.contributors import ContributorSection
    from fleetpulse.collector.report.models import ModelSection
    from fleetpulse.collector.report.sessions import SessionFigures

LONG_SECONDS = 1800.0  # the 30-minute line
UNUSED_SECONDS = 14 * 86400.0  # enrolled this long with no sign-in this long: unused
WEEK_SECONDS = 7 * 86400.0
LOW_COVERAGE = 0.9  # below this share of the expected devices, evidence is called weak
PERCENTILES = (50, 90, 95, 99)
PERCENTILE_METHOD = (
    "linear: the value at rank 1 + p/100 x (n - 1) of the n sorted durations, interpolated"
    " between its two neighbours (numpy.percentile's default method)"
)


@dataclass(frozen=True, slots=True)
class SigninEntry:
    """One stored sign-in in the period, as the report sees it."""

    device_id: str
    hostname: str
    site: str
    os: str
    started_at: float
    total_seconds: float | None
    first_login: bool | None
    after_update: bool | None
    in_sla: bool  # counted in the SLA figures (flagged sign-ins are not, by default)
    dominant_phase: str | None
    dominant_phase_seconds: float | None

    @property
    def flagged(self) -> bool:
        return bool(self.first_login) or bool(self.after_update)

    @property
    def long(self) -> bool:
        return self.total_seconds is not None and self.total_seconds >= LONG_SECONDS


@dataclass(frozen=True, slots=True)
class Durations:
    """Figures over one group of SLA sign-ins (the fleet, a site, a week)."""

    signins: int  # all sign-ins in the group, known duration or not
    unknown: int  # of which the duration is unknown (never counted as 0)
    within_slo: int  # known duration <= the SLO
    long: int  # known duration >= 30 min
    percentiles: dict[int, float | None]  # exact, over the known durations

    @property
    def known(self) -> int:
        return self.signins - self.unknown

    @property
    def share_within_slo(self) -> float | None:
        return self.within_slo / self.known if self.known else None


@dataclass(frozen=True, slots=True)
class Flagged:
    """First-login and after-update sign-ins in the period (a sign-in may be both)."""

    first_login: int
    after_update: int
    either: int
    long: int  # of the flagged, how many took >= 30 min
    included: bool  # --include-flagged: counted in the SLA figures


@dataclass(frozen=True, slots=True)
class Coverage:
    """Devices reporting in the period against the inventory (expected devices)."""

    reporting: int  # devices with a sign-in, a boot or a report in the period
    expected: int | None  # inventory size; None when no inventory was imported
    reporting_expected: int | None  # reporting devices whose hostname is in the inventory
    reporting_not_in_inventory: int | None

    @property
    def share(self) -> float | None:
        if not self.expected or self.reporting_expected is None:
            return None
        return self.reporting_expected / self.expected


@dataclass(frozen=True, slots=True)
class SiteFigures:
    site: str
    devices_reporting: int
    devices_expected: int | None
    durations: Durations


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One ISO week (clipped to the period): SLA figures and the time people waited."""

    week: str  # e.g. 2026-W47
    start: float  # clipped to the period
    end: float
    durations: Durations
    signin_wait_seconds: float  # every sign-in with a known duration, flagged ones too
    boot_wait_seconds: float  # every boot with a known duration (by boot time)
    signins_unknown: int  # sign-ins whose duration is unknown: not in the wait
    boots: int
    boots_unknown: int

    @property
    def partial(self) -> bool:
        """Only part of this ISO week is inside the period (its figures cover fewer days)."""
        return self.end - self.start < WEEK_SECONDS - 1e-6

    @property
    def days(self) -> float:
        return (self.end - self.start) / 86400.0

    @property
    def wait_hours(self) -> float:
        return (self.signin_wait_seconds + self.boot_wait_seconds) / 3600.0


@dataclass(frozen=True, slots=True)
class UnusedDevice:
    device_id: str
    hostname: str
    site: str
    enrolled_at: float
    last_signin_at: float | None  # None: no sign-in ever stored


@dataclass(frozen=True, slots=True)
class SlaReport:
    generated_at: float
    since: float
    until: float
    slo_seconds: float
    target: float
    fleet: Durations
    flagged: Flagged
    coverage: Coverage
    sites: list[SiteFigures]
    weeks: list[WeekFigures]
    unused: list[UnusedDevice]
    signins: list[SigninEntry] = field(default_factory=list)  # every one in the period
    boots: BootFigures | None = None  # the boot section (None: not computed)
    sessions: SessionFigures | None = None  # session time per device (None: not computed)
    contributors: ContributorSection | None = None  # the named contributors (None: not read)
    comparison: Comparison | None = None  # --compare: this report is the AFTER period
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. past retention
    models: ModelSection | None = None  # the by-model section (None: not computed)

    @property
    def long_signins(self) -> list[SigninEntry]:
        """The SLA sign-ins that took 30 minutes or more, oldest first."""
        return [s for s in self.signins if s.in_sla and s.long]

    @property
    def long_devices(self) -> int:
        """Distinct devices with an SLA sign-in of 30 minutes or more."""
        return len({s.device_id for s in self.long_signins})

    @property
    def meets_target(self) -> bool | None:
        share = self.fleet.share_within_slo
        return None if share is None else share >= self.target
