"""Report reads: stored events by event time, and device activity, for the SLA report and
the app label cap."""

from __future__ import annotations

import json

from fleetpulse.collector.model import BootRow, BootTotal, DeviceActivity, SigninRow
from fleetpulse.collector.store.database import Database


class Reports:
    """Reads of stored events from one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def signins_between(self, since: float, until: float) -> list[SigninRow]:
        """Complete sign-ins by event time (``started_at``), oldest first."""
        rows = self._db.read(
            "SELECT s.device_id, d.hostname, d.site, d.os, s.started_at, s.total_seconds,"
            " s.phases, s.first_login, s.after_update FROM signins s"
            " JOIN devices d ON d.device_id = s.device_id"
            " WHERE s.started_at >= ? AND s.started_at < ? ORDER BY s.started_at",
            (since, until),
        )
        return [
            SigninRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                json.loads(r[6]),
                None if r[7] is None else bool(r[7]),
                None if r[8] is None else bool(r[8]),
            )
            for r in rows
        ]

    def boots_between(self, since: float, until: float) -> list[BootTotal]:
        """Stored boots by event time (``boot_time``), oldest first."""
        rows = self._db.read(
            "SELECT device_id, boot_time, total_seconds FROM boots"
            " WHERE boot_time >= ? AND boot_time < ? ORDER BY boot_time",
            (since, until),
        )
        return [
            BootTotal(str(r[0]), float(r[1]), None if r[2] is None else float(r[2])) for r in rows
        ]

    def boot_details_between(self, since: float, until: float) -> list[BootRow]:
        """Stored boots by event time (``boot_time``) with their device and culprits,
        oldest first."""
        rows = self._db.read(
            "SELECT b.device_id, d.hostname, d.site, b.boot_time, b.total_seconds,"
            " b.boot_type, b.degraded, b.culprits FROM boots b"
            " JOIN devices d ON d.device_id = b.device_id"
            " WHERE b.boot_time >= ? AND b.boot_time < ? ORDER BY b.boot_time",
            (since, until),
        )
        return [
            BootRow(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                None if r[4] is None else float(r[4]),
                str(r[5]),
                None if r[6] is None else bool(r[6]),
                [(str(n), str(k), float(s)) for n, k, s in json.loads(r[7])],
            )
            for r in rows
        ]

    def device_activity(self) -> list[DeviceActivity]:
        """Every enrolled device, by site and hostname."""
        rows = self._db.read(
            "SELECT d.device_id, d.hostname, d.site, d.enrolled_at, d.last_seen,"
            " d.revoked_at, (SELECT MAX(s.started_at) FROM signins s"
            " WHERE s.device_id = d.device_id) FROM devices d ORDER BY d.site, d.hostname"
        )
        return [
            DeviceActivity(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                None if r[4] is None else float(r[4]),
                r[5] is not None,
                None if r[6] is None else float(r[6]),
            )
            for r in rows
        ]

    def top_boot_culprits(self, since: float, limit: int) -> list[tuple[str, str]]:
        """The ``limit`` ``(kind, name)`` boot culprits with the most seconds in boots since
        ``since``, most first (the culprits are JSON on the boot row: summed here)."""
        totals: dict[tuple[str, str], float] = {}
        for (text,) in self._db.read(
            "SELECT culprits FROM boots WHERE boot_time >= ? AND culprits <> '[]'", (since,)
        ):
            for name, kind, seconds in json.loads(text):
                key = (str(kind), str(name))
                totals[key] = totals.get(key, 0.0) + float(seconds)
        return sorted(totals, key=lambda k: (-totals[k], k))[:limit]

    def top_apps(self, since: float, limit: int) -> list[str]:
        """Executables by foreground (then running) time since a moment, most used first."""
        rows = self._db.read(
            "SELECT app FROM app_usage WHERE interval_start >= ? GROUP BY app"
            " ORDER BY SUM(COALESCE(foreground_seconds, 0)) DESC, SUM(running_seconds) DESC,"
            " app LIMIT ?",
            (since, limit),
        )
        return [str(r[0]) for r in rows]
