"""The report's session time: how long each device was signed in during the period, and
which devices are barely used.

A session's length is its end's ``ended_at`` minus its sign-in's ``started_at`` (the end is
the agent's ``SigninEnd``: sign-out or disconnect; see docs/measurement.md). Sessions are
taken by event time like sign-ins: those whose sign-in started in the period, each counted
whole. A sign-in without a stored end (still signed in, its end not seen, or an agent that
sends no ends) has an unknown length: it is never counted as 0 and never stretched to the
period's end. So a device's signed-in time is known when every one of its sign-ins has an
end, and a lower bound otherwise.

Verdict per device, against ``BARELY_USED_PER_WEEK`` seconds of sessions per week of the
period the device was in use for (from its enrolment or its first sign-in in the period,
whichever is earlier, to the period's end):

- ``barely_used``: every session's length is known and their sum is below the line;
- ``used``: the known lengths alone reach the line;
- ``unknown``: below the line, but some lengths are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpulse.collector.report.figures import WEEK_SECONDS
from fleetpulse.collector.store.base import Store
from fleetpulse.collector.store.sessions import SessionRow

#: Under 15 minutes of sessions per week: a device signed into that little is barely used.
BARELY_USED_PER_WEEK = 15 * 60.0

BARELY_USED = "barely_used"
USED = "used"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DeviceSessions:
    """One device's sessions in the period (sign-ins that started in it)."""

    device_id: str
    hostname: str
    site: str
    signins: int  # sign-ins in the period
    ended: int  # of which the session length is known
    seconds: float  # the sum of the known lengths
    weeks: float  # the part of the period the device was in use for, in weeks
    sends_ends: bool  # the device has sent at least one session end (ever)

    @property
    def open(self) -> int:
        """Sign-ins whose session length is unknown (no end stored)."""
        return self.signins - self.ended

    @property
    def seconds_per_week(self) -> float | None:
        """Known session seconds per week; None when the device was enrolled for no time."""
        return self.seconds / self.weeks if self.weeks > 0 else None

    def verdict(self, line: float = BARELY_USED_PER_WEEK) -> str:
        per_week = self.seconds_per_week
        if per_week is None:
            return UNKNOWN
        if per_week >= line:
            return USED
        return BARELY_USED if self.open == 0 else UNKNOWN


@dataclass(frozen=True, slots=True)
class SessionFigures:
    line_seconds_per_week: float
    devices: list[DeviceSessions]  # every device with a sign-in in the period, by site, host
    unmatched_ends: int  # ends in the period whose sign-in is not stored (no length)

    def by_verdict(self, verdict: str) -> list[DeviceSessions]:
        return [d for d in self.devices if d.verdict(self.line_seconds_per_week) == verdict]

    @property
    def barely_used(self) -> list[DeviceSessions]:
        return self.by_verdict(BARELY_USED)

    @property
    def unknown(self) -> list[DeviceSessions]:
        return self.by_verdict(UNKNOWN)

    @property
    def unknown_without_ends(self) -> int:
        """Devices of unknown verdict that never sent a session end (older agents)."""
        return sum(1 for d in self.unknown if not d.sends_ends)


def session_figures(
    store: Store, since: float, until: float, line: float = BARELY_USED_PER_WEEK
) -> SessionFigures:
    """Session time per device over sign-ins that started in ``[since, until)``."""
    sending = store.devices_sending_ends()
    found: dict[str, list[SessionRow]] = {}
    for row in store.sessions_between(since, until):  # oldest first
        found.setdefault(row.device_id, []).append(row)
    devices = []
    for dev, rows in found.items():
        first = rows[0]
        # In use from enrolment, or from an earlier sign-in it reported (an agent reports
        # the sign-ins of its boot, also those before it enrolled).
        in_use_from = max(since, min(first.enrolled_at, first.started_at))
        known = [s for s in (r.seconds for r in rows) if s is not None]
        devices.append(
            DeviceSessions(
                device_id=dev,
                hostname=first.hostname,
                site=first.site,
                signins=len(rows),
                ended=len(known),
                seconds=sum(known),
                weeks=max(0.0, until - in_use_from) / WEEK_SECONDS,
                sends_ends=dev in sending,
            )
        )
    devices.sort(key=lambda d: (d.site, d.hostname, d.device_id))
    return SessionFigures(line, devices, store.unmatched_ends(since, until))
