"""Range checks on every field of an incoming report. No grpc, no SQL."""

from __future__ import annotations

import math

from agent.phases import BOOT_PHASES, SIGNIN_PHASES
from agent.records import AppUsageRecord, BootRecord, HealthRecord, Phase, SigninRecord
from agent.setting_ranges import REPORT_MAX_RECORDS
from collector.errors import InvalidReport
from collector.model import Incoming, Report

EARLIEST = 946684800.0  # 2000-01-01: older timestamps are a broken clock
FUTURE_SLACK = 86400.0  # device clocks may run ahead, but not by more than a day
MAX_DURATION = 86400.0  # no boot or sign-in phase lasts a day
MAX_INTERVAL = 86400.0
MAX_RECORDS = REPORT_MAX_RECORDS  # agents bound batch_records by the same value
MAX_TEXT = 256
MAX_INT = 2**63


def _duration(name: str, value: float | None, limit: float = MAX_DURATION) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a non-negative number of seconds, got {value!r}"
    if value > limit:
        return f"{name} of {value:.0f} s is beyond the {limit:.0f} s limit"
    return None


def _time(name: str, value: float, now: float) -> str | None:
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


def _count(name: str, value: int | None) -> str | None:
    """Counters must fit a signed 64-bit column (SQL BIGINT)."""
    if value is not None and not 0 <= value < MAX_INT:
        return f"{name} {value} is outside 0..2^63-1"
    return None


def _phases(phases: tuple[Phase, ...], allowed: tuple[str, ...]) -> str | None:
    for p in phases:
        if p.name not in allowed:
            return f"unknown phase {p.name[:40]!r}"
        if problem := _duration(f"phase {p.name}", p.seconds):
            return problem
    return None


def _problem(inc: Incoming, now: float) -> str | None:
    r = inc.record
    checks: list[str | None] = [_time("observed_at", inc.observed_at, now)]
    if isinstance(r, BootRecord):
        checks += [
            _text("boot_id", r.boot_id),
            _time("boot_time", r.boot_time, now),
            _duration("total_seconds", r.total_seconds),
            _phases(r.phases, BOOT_PHASES),
            *(_duration(f"culprit {c.name[:40]!r}", c.seconds) for c in r.culprits),
            *(_text("culprit name", c.name) for c in r.culprits),
        ]
    elif isinstance(r, SigninRecord):
        checks += [
            _text("session_id", r.session_id),
            _text("boot_id", r.boot_id),
            _text("user_hash", r.user_hash, required=False),
            _time("started_at", r.started_at, now),
            _duration("total_seconds", r.total_seconds),
            _duration("elapsed_seconds", r.elapsed_seconds),
            _phases(r.phases, SIGNIN_PHASES),
        ]
    elif isinstance(r, AppUsageRecord):
        limit = r.interval_seconds * 1024  # CPU time may exceed wall time on many cores
        checks += [
            _text("app", r.app),
            _time("interval_start", r.interval_start, now),
            _duration("interval_seconds", r.interval_seconds, MAX_INTERVAL),
            _duration("running_seconds", r.running_seconds, limit),
            _duration("foreground_seconds", r.foreground_seconds, r.interval_seconds + 1),
            _duration("cpu_seconds", r.cpu_seconds, limit),
        ]
        checks += [
            _count("peak_rss_bytes", r.peak_rss_bytes),
            _count("launches", r.launches),
            _count("crashes", r.crashes),
        ]
        if any(c in r.app for c in "\n\r\x00"):
            checks.append("app contains control characters")
    elif isinstance(r, HealthRecord):
        checks += [
            _duration("clock_skew_seconds", abs(r.clock_skew_seconds or 0.0), 10 * 365 * 86400),
            _count("parse_errors", r.parse_errors),
            _count("spool_bytes", r.spool_bytes),
            _count("rejected", r.rejected),
            *(_count(f"dropped[{k[:40]!r}]", v) for k, v in r.dropped.items()),
            *(_text("dropped kind", k) for k in r.dropped),
        ]
    return next((c for c in checks if c), None)


def validate(report: Report, now: float) -> None:
    """Raises InvalidReport naming every bad record; a valid report passes untouched."""
    problems: list[tuple[int, str]] = []
    if len(report.records) > MAX_RECORDS:
        raise InvalidReport(
            [(0, f"{len(report.records)} records in one report; at most {MAX_RECORDS}")]
        )
    f = report.facts
    for name, value in (
        ("device_id", report.device_id),
        ("hostname", f.hostname),
        ("os", f.os),
        ("os_version", f.os_version),
        ("agent_version", f.agent_version),
        ("hardware_id", f.hardware_id),
        ("machine_id", f.machine_id),
        ("form_factor", f.form_factor),
    ):
        if problem := _text(f"facts {name}", value, required=False):
            raise InvalidReport([(0, problem)])
    seen: set[int] = set()
    for inc in report.records:
        if not 0 < inc.seq < MAX_INT:
            problems.append((inc.seq, "seq must be within 1..2^63-1"))
        elif inc.seq in seen:
            problems.append((inc.seq, "seq repeated within the report"))
        elif problem := _problem(inc, now):
            problems.append((inc.seq, f"{inc.record.kind.value}: {problem}"))
        seen.add(inc.seq)
    if problems:
        raise InvalidReport(problems)
