"""Session lengths in the store: table ``signin_ends`` (one row per ended session) read
with the sign-in each end belongs to.

A sign-in and its end share ``(device_id, boot_id, session_id)``; the session length is the
end's ``ended_at`` minus the sign-in's ``started_at``. Either may arrive first or alone: an
end whose sign-in is not stored is kept (its length is unknown until the sign-in comes), a
sign-in without an end has no length (still signed in, or its end was never seen).
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpulse.collector.store.database import Database


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A stored complete sign-in with its device and, where stored, its end.

    Times are Unix seconds; ``ended_at`` is None when no end is stored for the sign-in."""

    device_id: str
    hostname: str
    site: str
    enrolled_at: float
    started_at: float
    ended_at: float | None

    @property
    def seconds(self) -> float | None:
        """The session length in seconds; None when the end is unknown or precedes the
        start (two clocks disagree: no length is better than a negative one)."""
        if self.ended_at is None or self.ended_at < self.started_at:
            return None
        return self.ended_at - self.started_at


class Sessions:
    """Reads of sign-ins with their ends from one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def sessions_between(self, since: float, until: float) -> list[SessionRow]:
        """Sign-ins of devices not revoked that started in ``[since, until)`` (event time),
        each with its stored end, oldest first."""
        rows = self._db.read(
            "SELECT s.device_id, d.hostname, d.site, d.enrolled_at, s.started_at, e.ended_at"
            " FROM signins s JOIN devices d ON d.device_id = s.device_id"
            " LEFT JOIN signin_ends e ON e.device_id = s.device_id"
            " AND e.boot_id = s.boot_id AND e.session_id = s.session_id"
            " WHERE s.started_at >= ? AND s.started_at < ? AND d.revoked_at IS NULL"
            " ORDER BY s.started_at, s.device_id",
            (since, until),
        )
        return [
            SessionRow(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                float(r[4]),
                None if r[5] is None else float(r[5]),
            )
            for r in rows
        ]

    def devices_sending_ends(self) -> set[str]:
        """The devices with at least one stored session end (their agents report ends)."""
        return {str(r[0]) for r in self._db.read("SELECT DISTINCT device_id FROM signin_ends")}

    def unmatched_ends(self, since: float, until: float) -> int:
        """Session ends in ``[since, until)`` (by ``ended_at``) whose sign-in is not stored."""
        row = self._db.read(
            "SELECT COUNT(*) FROM signin_ends e WHERE e.ended_at >= ? AND e.ended_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM signins s WHERE s.device_id = e.device_id"
            " AND s.boot_id = e.boot_id AND s.session_id = e.session_id)",
            (since, until),
        )
        return int(row[0][0])
