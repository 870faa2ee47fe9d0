"""The collector's view of what arrives and what it keeps (no proto, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from fleetpulse.contract.records import DeviceFacts, Record
from fleetpulse.contract.setting_ranges import DEFAULT_REPORT_INTERVAL_SECONDS


@dataclass(frozen=True, slots=True)
class Incoming:
    seq: int
    observed_at: float
    record: Record


@dataclass(frozen=True, slots=True)
class Report:
    device_id: str
    facts: DeviceFacts
    records: list[Incoming]
    sent_at: float


@dataclass(frozen=True, slots=True)
class Hardware:
    """A device's hardware as stored on its row; None = unknown (the agent sent "" or 0)."""

    manufacturer: str | None = None  # SMBIOS system manufacturer, e.g. "LENOVO"
    model: str | None = None  # SMBIOS system product name, e.g. "20XW0026GE"
    memory_bytes: int | None = None  # physical memory the OS reports (psutil), bytes
    system_disk: str | None = None  # "ssd" or "hdd" (contract.records.SYSTEM_DISKS)

    @classmethod
    def of(cls, facts: DeviceFacts) -> Hardware:
        return cls(
            facts.manufacturer or None,
            facts.model or None,
            facts.memory_bytes or None,
            facts.system_disk or None,
        )

    def columns(self) -> tuple[str | None, str | None, int | None, str | None]:
        """The values of devices.(manufacturer, model, memory_bytes, system_disk)."""
        return self.manufacturer, self.model, self.memory_bytes, self.system_disk


#: A device whose hardware is wholly unknown (an agent that sends no hardware facts).
UNKNOWN_HARDWARE = Hardware()


@dataclass(frozen=True, slots=True)
class Device:
    """An enrolled device as the authenticator sees it."""

    device_id: str
    secret_hash: str
    site: str
    os: str
    revoked: bool = False


@dataclass
class Outcome:
    """What one report did to the store."""

    accepted: list[Incoming] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # agents' spool drops, new only

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str
    site: str
    created_at: float
    expires_at: float | None
    max_uses: int | None
    uses: int
    last_used: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    hostname: str
    site: str
    os: str
    os_version: str
    agent_version: str
    enrolled_at: float
    last_seen: float | None
    revoked: bool
    signins: int
    last_login_seconds: float | None
    p95_login_seconds: float | None
    last_boot_seconds: float | None
    identity: str = "ok"  # ok | reenrolled | superseded | clone_suspected
    related_device: str | None = None


#: Report intervals without news of a sign-in in progress after which it is given up
#: (its agent crashed, the machine was switched off or lost its network): one late report
#: (backoff jitter, a slow commit) and one lost one are not yet a dead agent.
IN_PROGRESS_MISSED_REPORTS = 3


@dataclass(frozen=True, slots=True)
class InProgressExpiry:
    """When a sign-in in progress stops counting as one.

    Agents re-send every sign-in in progress at each measure cycle, once per report
    interval (fleetpulse.agent.runner): the site's central ``report_interval_seconds`` when set,
    else the agents' default (fleetpulse.contract.setting_ranges.DEFAULT_REPORT_INTERVAL_SECONDS). A
    sign-in with no news for ``IN_PROGRESS_MISSED_REPORTS`` intervals has expired; until
    then its elapsed time is extrapolated by at most one interval past the last news."""

    default_interval: float = float(DEFAULT_REPORT_INTERVAL_SECONDS)
    per_site_interval: dict[str, float] = field(default_factory=dict)
    missed_reports: int = IN_PROGRESS_MISSED_REPORTS

    def interval(self, site: str) -> float:
        """Seconds between two reports of a sign-in in progress at ``site``."""
        return self.per_site_interval.get(site, self.default_interval)

    def after(self, site: str) -> float:
        """Seconds without news after which a sign-in in progress at ``site`` expires."""
        return self.missed_reports * self.interval(site)

    def longest(self) -> float:
        """The longest expiry of any site, in seconds."""
        return self.missed_reports * max([self.default_interval, *self.per_site_interval.values()])


@dataclass(frozen=True, slots=True)
class FleetState:
    """Gauges computed from the shared database (the same on every collector instance)."""

    devices: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    unused: dict[str, int] = field(default_factory=dict)
    in_progress: dict[str, int] = field(default_factory=dict)
    longest_in_progress: dict[str, float] = field(default_factory=dict)
    # sign-ins in progress that expired (InProgressExpiry) since the previous snapshot
    in_progress_expired: dict[str, int] = field(default_factory=dict)
    identity: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, kind)
    per_device: list[PerDeviceRow] = field(default_factory=list)
    # the top PER_DEVICE_CONTRIBUTORS contributors of each per-device row's latest sign-in
    per_device_contributors: list[DeviceContributor] = field(default_factory=list)
    # sign-ins in progress over IN_PROGRESS_NAMED_AFTER, longest first, at most
    # IN_PROGRESS_NAMED_MAX of them: who is waiting now
    over_threshold: list[WaitingSignin] = field(default_factory=list)
    # (site, os): sign-ins of 30 min or more that ended in the last hour, by event time
    # (started_at + total_seconds), whenever they were delivered
    long_ended_last_hour: dict[tuple[str, str], int] = field(default_factory=dict)
    # the event-time windows of the boards' headline figures (signin_windows.py)
    windows: SigninWindows | None = None


@dataclass(frozen=True, slots=True)
class BootRow:
    """A stored boot, joined with its device, for reports. ``culprits`` are
    (name, kind, seconds) as the agent sent them (Windows Diagnostics-Performance 101-110),
    largest first."""

    device_id: str
    hostname: str
    site: str
    boot_time: float
    total_seconds: float | None
    boot_type: str
    degraded: bool | None
    culprits: list[tuple[str, str, float]]


@dataclass(frozen=True, slots=True)
class SigninRow:
    """A stored complete sign-in, joined with its device, for reports."""

    device_id: str
    hostname: str
    site: str
    os: str
    started_at: float
    total_seconds: float | None
    phases: dict[str, float]
    first_login: bool | None
    after_update: bool | None


# Rows the store returns that callers also unpack positionally: NamedTuples, so a field is
# read by its name and ``for site, key, value in rows`` keeps working. Times are Unix
# seconds, durations seconds; None is unknown.


class PerDeviceRow(NamedTuple):
    """A device's latest figures for the per-device gauges."""

    device_id: str
    hostname: str
    site: str
    last_login_seconds: float | None
    last_boot_seconds: float | None
    last_seen: float | None


#: At most this many contributors of a device's latest sign-in become per-device series
#: (the largest ones), so the per-device mode adds at most this many series per device.
PER_DEVICE_CONTRIBUTORS = 3


class DeviceContributor(NamedTuple):
    """One of the largest contributors of a device's latest stored sign-in."""

    device_id: str
    hostname: str
    site: str
    kind: str  # fleetpulse.contract.phases.CONTRIBUTOR_KINDS
    name: str
    seconds: float


class BootTotal(NamedTuple):
    """A stored boot by event time."""

    device_id: str
    boot_time: float
    total_seconds: float | None


class DeviceActivity(NamedTuple):
    """An enrolled device and when it was last active, for the report's reporting set."""

    device_id: str
    hostname: str
    site: str
    enrolled_at: float
    last_seen: float | None
    revoked: bool
    last_signin_at: float | None  # start of its latest stored sign-in


class SiteSetting(NamedTuple):
    """A central agent setting; site ``*`` holds the fleet-wide defaults."""

    site: str
    key: str
    value: str


class SiteCoverage(NamedTuple):
    """Rollout coverage of one inventory site: devices expected, enrolled, and the
    hostnames expected but never enrolled."""

    site: str
    expected: int
    enrolled: int
    never_enrolled: list[str]


#: A sign-in in progress is named (hostname, site) once it has lasted this long, in seconds:
#: the threshold of the FleetpulseLoginInProgressTooLong alert.
IN_PROGRESS_NAMED_AFTER = 600.0
#: At most this many sign-ins in progress are named, longest first (a bounded series).
IN_PROGRESS_NAMED_MAX = 20


class WaitingSignin(NamedTuple):
    """A sign-in in progress over IN_PROGRESS_NAMED_AFTER: its device and how long it has
    lasted so far (seconds, extrapolated as for the longest-in-progress gauge)."""

    site: str
    hostname: str
    device_id: str
    seconds: float


class SigninTotal(NamedTuple):
    """A complete sign-in by event time, lean: the row form of the boards' window figures
    and by-model figures (signin_windows.compute, model_board.compute; the collector reads
    them as columns, store/figure_reads.py)."""

    device_id: str
    site: str
    started_at: float
    total_seconds: float | None  # None: unknown duration
    flagged: bool  # first_login or after_update (out of the SLA figures, as in the report)


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """The SLA sign-ins (flagged ones out) that started in one window, as the report counts
    them: ``signins`` includes unknown durations, ``known`` does not; ``within_slo`` is
    total <= the SLO, ``long`` total >= 1800 s; ``percentiles`` maps 50 and 95 to exact
    seconds (linear between closest ranks), None with no known duration."""

    signins: int
    known: int
    within_slo: int
    long: int
    percentiles: dict[int, float | None]


@dataclass(frozen=True, slots=True)
class SigninWindows:
    """Window figures ending at ``until`` (whole Unix seconds, exclusive): per window name
    ("24h", "7d", "28d") for the fleet and per (window, site)."""

    until: float
    slo_seconds: float
    fleet: dict[str, WindowFigures] = field(default_factory=dict)
    sites: dict[tuple[str, str], WindowFigures] = field(default_factory=dict)


class SigninDuration(NamedTuple):
    """A stored complete sign-in's device and duration: for the by-model figures."""

    device_id: str
    total_seconds: float | None  # None: unknown duration
    flagged: bool  # first_login or after_update (out of the SLA figures)
