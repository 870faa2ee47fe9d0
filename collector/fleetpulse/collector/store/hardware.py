"""Reads of each device's hardware (manufacturer, model, RAM, system disk) and of the sign-in
durations the by-model figures group by it."""

from __future__ import annotations

from fleetpulse.collector.model import Hardware, SigninDuration
from fleetpulse.collector.store.database import Database


class HardwareReads:
    """Device hardware and per-device sign-in durations from one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def device_hardware(self) -> dict[str, Hardware]:
        """``{device_id: Hardware}`` for every enrolled device (revoked ones too: their
        stored events still count); a NULL column is None (unknown)."""
        return {
            str(dev): Hardware(
                None if maker is None else str(maker),
                None if model is None else str(model),
                None if memory is None else int(memory),
                None if disk is None else str(disk),
            )
            for dev, maker, model, memory, disk in self._db.read(
                "SELECT device_id, manufacturer, model, memory_bytes, system_disk FROM devices"
            )
        }

    def signin_durations(self, since: float, until: float) -> list[SigninDuration]:
        """Complete sign-ins that started in ``[since, until)`` (event time): device,
        duration (None: unknown) and whether first_login or after_update flags them;
        unordered."""
        return [
            SigninDuration(str(dev), None if total is None else float(total), bool(flag))
            for dev, total, flag in self._db.read(
                "SELECT device_id, total_seconds,"
                " CASE WHEN COALESCE(first_login, 0) <> 0 OR COALESCE(after_update, 0) <> 0"
                " THEN 1 ELSE 0 END FROM signins WHERE started_at >= ? AND started_at < ?",
                (since, until),
            )
        ]
