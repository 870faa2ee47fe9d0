"""Words, table and JSON of the report's session time (report/sessions.py), shared by the
Markdown, HTML and JSON renderers; each renderer only lays them out."""

from __future__ import annotations

from typing import Any

from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.figures import SlaReport
from fleetpulse.collector.report.sessions import DeviceSessions, SessionFigures

TITLE = "Barely used devices (session time)"


def rule(s: SessionFigures) -> str:
    """How the verdict is reached, in one paragraph."""
    return (
        f"A session lasts from sign-in to sign-out or disconnect. Devices whose sessions"
        f" total under {t.seconds(s.line_seconds_per_week)} per week of the period the device"
        " was in use for (from its enrolment or its first sign-in in the period, whichever is"
        " earlier) are barely used; sessions are taken by sign-in time, each counted whole."
        " A session without a known end (still signed in, its end not seen, or an agent that"
        " sends no session ends) is not counted: a device below the line with such a session"
        " is unknown."
    )


def summary(s: SessionFigures) -> str:
    used = len(s.by_verdict("used"))
    unknown = len(s.unknown)
    line = (
        f"{len(s.devices):,} device(s) with sign-ins in the period: {len(s.barely_used):,}"
        f" barely used, {used:,} used, {unknown:,} unknown"
    )
    if unknown:
        line += f" ({s.unknown_without_ends:,} of them never sent a session end)"
    line += "."
    if s.unmatched_ends:
        line += (
            f" {s.unmatched_ends:,} session end(s) in the period have no stored sign-in:"
            " their length is unknown."
        )
    return line


def session_time(d: DeviceSessions) -> str:
    """Known session time; a lower bound ("at least") when some lengths are unknown."""
    text = t.seconds(d.seconds) if d.ended else "none known"
    return f"at least {text}" if d.open and d.ended else text


def barely_used_table(s: SessionFigures) -> t.Table:
    return (
        ["hostname", "site", "sign-ins", "session time", "per week", "device"],
        [
            [
                d.hostname,
                d.site,
                str(d.signins),
                session_time(d),
                t.seconds(d.seconds_per_week),
                d.device_id,
            ]
            for d in s.barely_used
        ],
    )


def session_dict(report: SlaReport) -> dict[str, Any] | None:
    """The JSON form: every device with a sign-in in the period, with its verdict."""
    s = report.sessions
    if s is None:
        return None
    return {
        "rule": rule(s),
        "barely_used_below_seconds_per_week": s.line_seconds_per_week,
        "by": "event time (sign-in started_at); a session without a known end is not counted",
        "ends_without_signin": s.unmatched_ends,
        "devices": [
            {
                "device_id": d.device_id,
                "hostname": d.hostname,
                "site": d.site,
                "signins": d.signins,
                "sessions_with_known_length": d.ended,
                "session_seconds_known": d.seconds,
                "weeks_in_use": d.weeks,
                "session_seconds_per_week": d.seconds_per_week,
                "sends_session_ends": d.sends_ends,
                "verdict": d.verdict(s.line_seconds_per_week),
            }
            for d in s.devices
        ],
    }
