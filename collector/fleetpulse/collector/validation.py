"""Range checks on every field of an incoming report. No grpc, no SQL.

Integer bounds come from the columns that hold each value (``INTEGER_BOUNDS``, derived from
collector/store/schema.py), so a record that passes can always be stored on SQLite and on
PostgreSQL; names come from closed vocabularies (agent/phases.py, agent/records.py Kind);
every repeated field and map has a maximum. protos/fleetpulse/v1/telemetry.proto states
each bound next to its field.
"""

from __future__ import annotations

import math

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.schema import INTEGER_RANGES, integer_range
from fleetpulse.contract.phases import (
    BOOT_PHASES,
    CONTRIBUTOR_KINDS,
    CULPRIT_KINDS,
    PROFILE_TYPES,
    SIGNIN_PHASES,
)
from fleetpulse.contract.records import (
    SYSTEM_DISKS,
    AppUsageRecord,
    BootRecord,
    DeviceFacts,
    HealthRecord,
    Kind,
    Phase,
    SigninEndRecord,
    SigninRecord,
)
from fleetpulse.contract.setting_ranges import REPORT_MAX_RECORDS

EARLIEST = 946684800.0  # 2000-01-01: older timestamps are a broken clock
FUTURE_SLACK = 86400.0  # device clocks may run ahead, but not by more than a day
MAX_DURATION = 86400.0  # no boot or sign-in phase lasts a day
MAX_INTERVAL = 86400.0
MAX_RECORDS = REPORT_MAX_RECORDS  # agents bound batch_records by the same value
MAX_TEXT = 256
MAX_CULPRITS = 100  # a slow boot logs a few Diagnostics-Performance 101-110 events, not 100
#: A sign-in has a few extensions, scripts and Run-key apps; the agent keeps the 64 longest.
MAX_CONTRIBUTORS = 64
#: Contributor names are file or extension names (they become label values, like apps).
MAX_CONTRIBUTOR_NAME = 64
MAX_DEVICE_ID = 64  # ids are UUIDs (36 characters), issued at enrollment

#: The keys of AgentHealth.dropped: the record kinds the agent spools, and ``unreadable``
#: (spool rows lost to damage, counted by the agent when it salvages its spool).
DROPPED_KINDS = (*(k.value for k in Kind), "unreadable")

#: Every integer of the contract that is stored, with the columns holding it
#: (collector/store/schema.py); its bound is the narrowest of their ranges on both stores.
INTEGER_COLUMNS: dict[str, tuple[str, ...]] = {
    "Record.seq": (
        "boots.seq",
        "signins.seq",
        "signin_contributors.seq",
        "signin_ends.seq",
        "app_usage.seq",
        "signins_in_progress.last_seq",
        "device_health.last_seq",
    ),
    "AppUsage.launches": ("app_usage.launches",),
    "AppUsage.peak_rss_bytes": ("app_usage.peak_rss_bytes",),
    "AppUsage.crashes": ("app_usage.crashes",),
    "AgentHealth.parse_errors": ("device_health.parse_errors",),
    "AgentHealth.spool_bytes": ("device_health.spool_bytes",),
    "AgentHealth.rejected": ("device_health.rejected",),
    "DeviceFacts.memory_bytes": ("devices.memory_bytes",),
}
#: Integers kept as JSON inside a TEXT column (device_health.dropped): bounded like a
#: BIGINT, so every reader of the store can hold them.
JSON_INTEGERS = ("AgentHealth.dropped",)
#: Integers of the contract that are not stored: their proto type is their only bound.
UNSTORED_INTEGERS = ("DeviceFacts.cpu_count",)


def _bound(columns: tuple[str, ...]) -> tuple[int, int]:
    ranges = [integer_range(c) for c in columns]
    return max(lo for lo, _ in ranges), min(hi for _, hi in ranges)


#: ``{proto field: (lowest, highest)}`` accepted for every stored integer of the contract.
INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    **{f: (1 if f == "Record.seq" else 0, _bound(cols)[1]) for f, cols in INTEGER_COLUMNS.items()},
    **{f: (0, INTEGER_RANGES["BIGINT"][1]) for f in JSON_INTEGERS},
}


def _duration(name: str, value: float | None, limit: float = MAX_DURATION) -> str | None:
    if value is None or 0 <= value <= limit < math.inf:
        return None  # (NaN fails every comparison)
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a non-negative number of seconds, got {value!r}"
    if value > limit:
        return f"{name} of {value:.0f} s is beyond the {limit:.0f} s limit"
    return None


def _time(name: str, value: float, now: float) -> str | None:
    if EARLIEST <= value <= now + FUTURE_SLACK < math.inf:
        return None  # (NaN and infinities fail a comparison)
    if not math.isfinite(value) or value < EARLIEST:
        return f"{name} {value!r} is before 2000-01-01"
    if value > now + FUTURE_SLACK:
        return f"{name} is {value - now:.0f} s in the future"
    return None


def _text(name: str, value: str, required: bool = True) -> str | None:
    if required and not value:
        return f"{name} is empty"
    if len(value) > MAX_TEXT:
        return f"{name} is longer than {MAX_TEXT} characters"
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; no identifier needs one
        return f"{name} contains a NUL character"
    return None


def _count(name: str, value: int | None, field: str) -> str | None:
    """An integer within the range of the column(s) that will hold it (INTEGER_BOUNDS)."""
    lo, hi = INTEGER_BOUNDS[field]
    if value is not None and not lo <= value <= hi:
        return f"{name} must be within {lo}..{hi}, got {value}"
    return None


def _phases(phases: tuple[Phase, ...], allowed: tuple[str, ...]) -> str | None:
    """Each phase of the vocabulary at most once (so at most len(allowed) phases)."""
    seen: set[str] = set()
    for p in phases:
        if p.name not in allowed:
            return f"unknown phase {p.name[:40]!r}"
        if p.name in seen:
            return f"phase {p.name} repeated"
        seen.add(p.name)
        if problem := _duration(f"phase {p.name}", p.seconds):
            return problem
    return None


def _culprits(r: BootRecord) -> str | None:
    if len(r.culprits) > MAX_CULPRITS:
        return f"{len(r.culprits)} culprits; at most {MAX_CULPRITS}"
    for c in r.culprits:
        if c.kind not in CULPRIT_KINDS:
            return f"unknown culprit kind {c.kind[:40]!r}"
    return None


def _contributors(r: SigninRecord) -> str | None:
    """Known kinds, at most MAX_CONTRIBUTORS, each name a bare name (no path: no backslash
    or slash, no control character, at most MAX_CONTRIBUTOR_NAME characters; a profile's
    name one of PROFILE_TYPES), each duration within 0..MAX_DURATION."""
    if len(r.contributors) > MAX_CONTRIBUTORS:
        return f"{len(r.contributors)} contributors; at most {MAX_CONTRIBUTORS}"
    for c in r.contributors:
        if c.kind not in CONTRIBUTOR_KINDS:
            return (
                f"unknown contributor kind {c.kind[:40]!r}; one of {', '.join(CONTRIBUTOR_KINDS)}"
            )
        if not c.name:
            return f"{c.kind} contributor name is empty"
        if len(c.name) > MAX_CONTRIBUTOR_NAME:
            return f"{c.kind} contributor name is longer than {MAX_CONTRIBUTOR_NAME} characters"
        if not c.name.isprintable() or "\\" in c.name or "/" in c.name:
            return (
                f"{c.kind} contributor name {c.name[:40]!r} is not a bare name"
                " (control character, backslash or slash)"
            )
        if c.kind == "profile" and c.name not in PROFILE_TYPES:
            return f"profile contributor name {c.name[:40]!r}; one of {', '.join(PROFILE_TYPES)}"
        if problem := _duration(f"contributor {c.name[:40]!r}", c.seconds):
            return problem
    return None


def _dropped(dropped: dict[str, int]) -> str | None:
    for kind in dropped:
        if kind not in DROPPED_KINDS:
            return f"unknown dropped kind {kind[:40]!r}; one of {', '.join(DROPPED_KINDS)}"
    return None


def device_id_problem(device_id: str) -> str | None:
    """Why ``device_id`` cannot be an id the collector issued (a UUID), or None."""
    if not device_id:
        return "device_id is empty"
    if len(device_id) > MAX_DEVICE_ID:
        return f"device_id is longer than {MAX_DEVICE_ID} characters"
    if not device_id.isprintable() or not device_id.isascii():
        return "device_id contains a control or non-ASCII character"
    return None


def _boot_problem(r: BootRecord, now: float) -> str | None:
    return (
        _text("boot_id", r.boot_id)
        or _time("boot_time", r.boot_time, now)
        or _duration("total_seconds", r.total_seconds)
        or _phases(r.phases, BOOT_PHASES)
        or _culprits(r)
        or next(
            (p for c in r.culprits if (p := _duration(f"culprit {c.name[:40]!r}", c.seconds))),
            None,
        )
        or next((p for c in r.culprits if (p := _text("culprit name", c.name))), None)
    )


def _signin_problem(r: SigninRecord, now: float) -> str | None:
    return (
        _text("session_id", r.session_id)
        or _text("boot_id", r.boot_id)
        or _text("user_hash", r.user_hash, required=False)
        or _time("started_at", r.started_at, now)
        or _duration("total_seconds", r.total_seconds)
        or _duration("elapsed_seconds", r.elapsed_seconds)
        or _phases(r.phases, SIGNIN_PHASES)
        or _contributors(r)
    )


def _signin_end_problem(r: SigninEndRecord, now: float) -> str | None:
    return (
        _text("session_id", r.session_id)
        or _text("boot_id", r.boot_id)
        or _time("ended_at", r.ended_at, now)
    )


def _app_usage_problem(r: AppUsageRecord, now: float) -> str | None:
    limit = r.interval_seconds * 1024  # CPU time may exceed wall time on many cores
    app = r.app
    return (
        _text("app", app)
        or _time("interval_start", r.interval_start, now)
        or _duration("interval_seconds", r.interval_seconds, MAX_INTERVAL)
        or _duration("running_seconds", r.running_seconds, limit)
        or _duration("foreground_seconds", r.foreground_seconds, r.interval_seconds + 1)
        or _duration("cpu_seconds", r.cpu_seconds, limit)
        or _count("peak_rss_bytes", r.peak_rss_bytes, "AppUsage.peak_rss_bytes")
        or _count("launches", r.launches, "AppUsage.launches")
        or _count("crashes", r.crashes, "AppUsage.crashes")
        or (
            "app contains control characters"
            if "\n" in app or "\r" in app or "\x00" in app
            else None
        )
    )


def _health_problem(r: HealthRecord, now: float) -> str | None:
    return (
        _duration("clock_skew_seconds", abs(r.clock_skew_seconds or 0.0), 10 * 365 * 86400)
        or _count("parse_errors", r.parse_errors, "AgentHealth.parse_errors")
        or _count("spool_bytes", r.spool_bytes, "AgentHealth.spool_bytes")
        or _count("rejected", r.rejected, "AgentHealth.rejected")
        or _dropped(r.dropped)
        or next(
            (
                p
                for k, v in r.dropped.items()
                if (p := _count(f"dropped[{k!r}]", v, "AgentHealth.dropped"))
            ),
            None,
        )
    )


def _problem(inc: Incoming, now: float) -> str | None:
    """The first problem of ``inc``, in the order the checks are listed per kind (each
    check runs only while none before it found one), or None."""
    if problem := _time("observed_at", inc.observed_at, now):
        return problem
    r = inc.record
    if isinstance(r, SigninRecord):
        return _signin_problem(r, now)
    if isinstance(r, AppUsageRecord):
        return _app_usage_problem(r, now)
    if isinstance(r, BootRecord):
        return _boot_problem(r, now)
    if isinstance(r, SigninEndRecord):
        return _signin_end_problem(r, now)
    return _health_problem(r, now)


def _facts_problem(f: DeviceFacts, names: tuple[str, ...]) -> str | None:
    return next(
        (p for n in names if (p := _text(f"facts {n}", getattr(f, n), required=False))), None
    )


def check_hardware(f: DeviceFacts) -> None:
    """Raises InvalidReport (seq 0) for hardware facts no column can hold: a NUL or a text
    over MAX_TEXT in manufacturer or model, a system_disk outside SYSTEM_DISKS and "",
    memory_bytes beyond a BIGINT."""
    problem = _facts_problem(f, ("manufacturer", "model", "system_disk"))
    if problem is None and f.system_disk not in ("", *SYSTEM_DISKS):
        problem = f"facts system_disk {f.system_disk[:32]!r} is not one of ssd, hdd or empty"
    problem = problem or _count("facts memory_bytes", f.memory_bytes, "DeviceFacts.memory_bytes")
    if problem:
        raise InvalidReport([(0, problem)])


def check_facts(f: DeviceFacts) -> None:
    """Raises InvalidReport (seq 0) for device facts no column can hold (see
    check_hardware; a NUL or a text over MAX_TEXT in the others)."""
    text = ("hostname", "os", "os_version", "agent_version", "hardware_id", "machine_id")
    if problem := _facts_problem(f, (*text, "form_factor")):
        raise InvalidReport([(0, problem)])
    check_hardware(f)


def validate(report: Report, now: float) -> None:
    """Raises InvalidReport naming every bad record; a valid report passes untouched."""
    problems: list[tuple[int, str]] = []
    if len(report.records) > MAX_RECORDS:
        raise InvalidReport(
            [(0, f"{len(report.records)} records in one report; at most {MAX_RECORDS}")]
        )
    if problem := _text("facts device_id", report.device_id, required=False):
        raise InvalidReport([(0, problem)])
    check_facts(report.facts)
    seen: set[int] = set()
    for inc in report.records:
        if problem := _count("seq", inc.seq, "Record.seq"):
            problems.append((inc.seq, problem))
        elif inc.seq in seen:
            problems.append((inc.seq, "seq repeated within the report"))
        elif problem := _problem(inc, now):
            problems.append((inc.seq, f"{inc.record.kind.value}: {problem}"))
        seen.add(inc.seq)
    if problems:
        raise InvalidReport(problems)


def rejected_by_kind(report: Report, err: InvalidReport) -> dict[str, int]:
    """The records ``err`` rejects, counted by kind: those it names, or every record when
    it names none (a problem of the whole report)."""
    bad = set(err.seqs)
    rejected: dict[str, int] = {}
    for inc in report.records:
        if inc.seq in bad or not bad:
            kind = inc.record.kind.value
            rejected[kind] = rejected.get(kind, 0) + 1
    return rejected
