"""Typed records the agent measures; no proto types here (see serde.py).

A value the device could not measure is ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: DeviceFacts.system_disk: the media of the disk holding the system volume ("" = unknown).
SYSTEM_DISKS = ("ssd", "hdd")


class Kind(StrEnum):
    """Record kinds, in spool priority order (higher value = kept longer)."""

    APP_USAGE = "app_usage"
    HEALTH = "health"
    BOOT = "boot"
    SIGNIN = "signin"
    SIGNIN_END = "signin_end"


#: When the spool must drop, it drops the lowest priority first. A sign-in's end is kept
#: as long as the sign-in itself: one without the other measures no session length.
PRIORITY: dict[Kind, int] = {
    Kind.APP_USAGE: 0,
    Kind.HEALTH: 1,
    Kind.BOOT: 2,
    Kind.SIGNIN: 3,
    Kind.SIGNIN_END: 3,
}


class BootType(StrEnum):
    UNKNOWN = "unknown"
    COLD = "cold"
    FAST_STARTUP = "fast_startup"
    RESUME = "resume"


class SigninState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


class EndReason(StrEnum):
    """How a signed-in session ended: the person signed out (or the session was logged
    off), or the session was disconnected (Remote Desktop, fast user switching)."""

    SIGN_OUT = "sign_out"
    DISCONNECT = "disconnect"


@dataclass(frozen=True, slots=True)
class Phase:
    """A named part of a duration, in seconds."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Culprit:
    """Something that slowed a boot (Windows Diagnostics-Performance 101-110)."""

    name: str
    kind: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Contributor:
    """A named part of a sign-in's time: ``kind`` from ``phases.CONTRIBUTOR_KINDS``,
    ``name`` an extension, script file or executable name (never a path or arguments),
    ``seconds`` how long it ran."""

    kind: str
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class BootRecord:
    boot_id: str
    boot_time: float
    total_seconds: float | None = None
    phases: tuple[Phase, ...] = ()
    boot_type: BootType = BootType.UNKNOWN
    degraded: bool | None = None
    culprits: tuple[Culprit, ...] = ()

    kind = Kind.BOOT


@dataclass(frozen=True, slots=True)
class SigninRecord:
    session_id: str
    boot_id: str
    user_hash: str
    started_at: float
    state: SigninState
    total_seconds: float | None = None
    elapsed_seconds: float = 0.0
    phases: tuple[Phase, ...] = ()
    first_login: bool | None = None
    after_update: bool | None = None
    contributors: tuple[Contributor, ...] = ()

    kind = Kind.SIGNIN


@dataclass(frozen=True, slots=True)
class AppUsageRecord:
    interval_start: float
    interval_seconds: float
    app: str
    launches: int = 0
    running_seconds: float = 0.0
    foreground_seconds: float | None = None
    cpu_seconds: float = 0.0
    peak_rss_bytes: int | None = None
    crashes: int | None = None

    kind = Kind.APP_USAGE


@dataclass(frozen=True, slots=True)
class HealthRecord:
    dropped: dict[str, int] = field(default_factory=dict)
    parse_errors: int = 0
    spool_bytes: int = 0
    clock_skew_seconds: float | None = None
    rejected: int = 0

    kind = Kind.HEALTH


@dataclass(frozen=True, slots=True)
class SigninEndRecord:
    """The end of a signed-in session, sent once: the sign-in it ends is
    ``(boot_id, session_id)``; ``ended_at`` is a time (Unix seconds)."""

    session_id: str
    boot_id: str
    ended_at: float
    reason: EndReason

    kind = Kind.SIGNIN_END


Record = BootRecord | SigninRecord | AppUsageRecord | HealthRecord | SigninEndRecord


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    hostname: str
    os: str
    os_version: str
    agent_version: str
    hardware_id: str = ""
    machine_id: str = ""
    cpu_count: int = 0
    memory_bytes: int = 0
    boot_time: float | None = None
    form_factor: str = ""
    manufacturer: str = ""  # SMBIOS system manufacturer, "" = unknown
    model: str = ""  # SMBIOS system product name, "" = unknown
    system_disk: str = ""  # "ssd", "hdd", "" = unknown (SYSTEM_DISKS)


@dataclass(frozen=True, slots=True)
class SigninObservation:
    """What a platform backend knows about one sign-in, before the agent adds
    the ``responsive`` phase and decides whether it is complete.

    ``user`` is the raw account name: it is hashed before anything leaves the device.
    """

    session_id: str
    user: str
    started_at: float
    shell_started_at: float | None = None
    desktop_ready_at: float | None = None
    phases: tuple[Phase, ...] = ()
    first_login: bool | None = None
    after_update: bool | None = None
    ended: bool = False
    contributors: tuple[Contributor, ...] = ()
    #: When and how the session ended, where the OS says (``ended`` may be True without:
    #: the end is known, its time is not).
    ended_at: float | None = None
    end_reason: EndReason | None = None
    #: Known only by its end: the source cannot tell whether it was a desktop sign-in (a
    #: logind session that ended before its type was asked). The agent sends its end only
    #: when it reported the sign-in itself, and never reports it as a sign-in.
    end_only: bool = False


@dataclass(frozen=True, slots=True)
class Crash:
    app: str
    at: float
