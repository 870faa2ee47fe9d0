"""Ingest: a group of validated reports stored in one transaction.

Duplicates are dropped by the primary key ``(device_id, seq)`` and by each record's natural
key (a boot per device, a sign-in per device/boot/session) with ``ON CONFLICT DO NOTHING
RETURNING``, so exactly the rows this transaction inserted come back, even with several
collectors writing to one database. Sign-ins in progress and device health are kept as the
latest per key (an upsert guarded by ``last_seq``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from fleetpulse.collector.model import Incoming, Outcome, Report
from fleetpulse.collector.store.contributors import Contributors
from fleetpulse.collector.store.database import Connection, Database, Params
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    HealthRecord,
    Phase,
    SigninRecord,
    SigninState,
)

_CHUNK = 300  # rows per multi-row INSERT


def _b(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _phase(record: SigninRecord, name: str) -> float | None:
    for p in record.phases:
        if p.name == name:
            return p.seconds
    return None


def _phases_json(phases: Sequence[Phase]) -> str:
    return json.dumps({p.name: p.seconds for p in phases}, separators=(",", ":"))


class Ingest:
    """Writes reports into one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._contributors = Contributors(db)

    def ingest(self, reports: list[Report], now: float) -> list[Outcome]:
        """Stores a group of validated reports in one transaction."""
        with self._db.write() as conn:
            return [self._ingest_one(conn, report, now) for report in reports]

    def _insert_new(self, conn: Connection, table: str, cols: str, rows: list[Params]) -> set[int]:
        """Inserts rows whose first two columns are (device_id, seq); returns new seqs."""
        new: set[int] = set()
        width = cols.count(",") + 1
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            values = ",".join(["(" + ",".join("?" * width) + ")"] * len(chunk))
            params = [v for row in chunk for v in row]
            cur = self._db.x(
                conn,
                f"INSERT INTO {table} ({cols}) VALUES {values} ON CONFLICT DO NOTHING"
                " RETURNING seq",
                params,
            )
            new.update(int(r[0]) for r in cur.fetchall())
        return new

    def _ingest_one(self, conn: Connection, report: Report, now: float) -> Outcome:
        dev = report.device_id
        f = report.facts
        self._db.x(
            conn,
            "UPDATE devices SET last_seen = ?, hostname = ?, os_version = ?, agent_version = ?"
            " WHERE device_id = ?",
            (now, f.hostname, f.os_version, f.agent_version, dev),
        )
        by_kind: dict[str, list[Incoming]] = {}
        for inc in report.records:
            r = inc.record
            key = (
                "signin_live"
                if (isinstance(r, SigninRecord) and r.state is SigninState.IN_PROGRESS)
                else r.kind.value
            )
            by_kind.setdefault(key, []).append(inc)
        outcome = Outcome()
        new: set[int] = set()
        if "boot" in by_kind:
            new |= self._insert_new(
                conn,
                "boots",
                "device_id, seq, boot_id, boot_time,"
                " total_seconds, boot_type, degraded, phases, culprits,"
                " received_at",
                [self._boot_row(dev, i, now) for i in by_kind["boot"]],
            )
        if "signin" in by_kind:
            rows = [self._signin_row(dev, i, now) for i in by_kind["signin"]]
            inserted = self._insert_new(
                conn,
                "signins",
                "device_id, seq, boot_id, session_id, user_hash, started_at,"
                " total_seconds, core_seconds, responsive_seconds, phases, first_login,"
                " after_update, received_at",
                rows,
            )
            new |= inserted
            self._contributors.insert(conn, dev, by_kind["signin"], inserted)
            for inc in by_kind["signin"]:
                r = inc.record
                assert isinstance(r, SigninRecord)
                self._db.x(
                    conn,
                    "DELETE FROM signins_in_progress WHERE device_id = ? AND"
                    " boot_id = ? AND session_id = ?",
                    (dev, r.boot_id, r.session_id),
                )
        if "app_usage" in by_kind:
            new |= self._insert_new(
                conn,
                "app_usage",
                "device_id, seq, interval_start,"
                " interval_seconds, app, launches, running_seconds,"
                " foreground_seconds, cpu_seconds, peak_rss_bytes, crashes",
                [self._app_row(dev, i) for i in by_kind["app_usage"]],
            )
        for inc in by_kind.get("signin_live", []):
            if self._upsert_live(conn, dev, inc, now):
                new.add(inc.seq)
        for inc in by_kind.get("health", []):
            if self._upsert_health(conn, dev, inc, now, outcome.dropped):
                new.add(inc.seq)
        for inc in report.records:
            if inc.seq in new:
                outcome.accepted.append(inc)
            else:
                kind = inc.record.kind.value
                outcome.duplicates[kind] = outcome.duplicates.get(kind, 0) + 1
        return outcome

    @staticmethod
    def _boot_row(dev: str, inc: Incoming, now: float) -> Params:
        r = inc.record
        assert isinstance(r, BootRecord)
        culprits = json.dumps([[c.name, c.kind, c.seconds] for c in r.culprits])
        return (
            dev,
            inc.seq,
            r.boot_id,
            r.boot_time,
            r.total_seconds,
            r.boot_type.value,
            _b(r.degraded),
            _phases_json(r.phases),
            culprits,
            now,
        )

    @staticmethod
    def _signin_row(dev: str, inc: Incoming, now: float) -> Params:
        r = inc.record
        assert isinstance(r, SigninRecord)
        return (
            dev,
            inc.seq,
            r.boot_id,
            r.session_id,
            r.user_hash,
            r.started_at,
            r.total_seconds,
            _phase(r, "core"),
            _phase(r, "responsive"),
            _phases_json(r.phases),
            _b(r.first_login),
            _b(r.after_update),
            now,
        )

    @staticmethod
    def _app_row(dev: str, inc: Incoming) -> Params:
        r = inc.record
        assert isinstance(r, AppUsageRecord)
        return (
            dev,
            inc.seq,
            r.interval_start,
            r.interval_seconds,
            r.app,
            r.launches,
            r.running_seconds,
            r.foreground_seconds,
            r.cpu_seconds,
            r.peak_rss_bytes,
            r.crashes,
        )

    def _upsert_live(self, conn: Connection, dev: str, inc: Incoming, now: float) -> bool:
        r = inc.record
        assert isinstance(r, SigninRecord)
        cur = self._db.x(
            conn,
            "INSERT INTO signins_in_progress (device_id, boot_id, session_id, started_at,"
            " elapsed_seconds, updated_at, last_seq)"
            " SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signins"
            " WHERE device_id = ? AND boot_id = ? AND session_id = ?)"
            " ON CONFLICT (device_id, boot_id, session_id) DO UPDATE SET"
            " elapsed_seconds = excluded.elapsed_seconds, updated_at = excluded.updated_at,"
            " last_seq = excluded.last_seq WHERE excluded.last_seq > signins_in_progress.last_seq"
            " RETURNING last_seq",
            (
                dev,
                r.boot_id,
                r.session_id,
                r.started_at,
                r.elapsed_seconds,
                now,
                inc.seq,
                dev,
                r.boot_id,
                r.session_id,
            ),
        )
        return cur.fetchone() is not None

    def _upsert_health(
        self, conn: Connection, dev: str, inc: Incoming, now: float, dropped: dict[str, int]
    ) -> bool:
        """Keeps the device's latest health; adds what its drop counters grew by to
        ``dropped`` (agents report cumulative totals, so resends add nothing)."""
        r = inc.record
        assert isinstance(r, HealthRecord)
        prev = self._db.x(
            conn, "SELECT dropped, last_seq FROM device_health WHERE device_id = ?", (dev,)
        ).fetchone()
        before: dict[str, int] = json.loads(prev[0]) if prev else {}
        if prev is None or int(prev[1]) < inc.seq:
            for kind, total in r.dropped.items():
                grew = int(total) - int(before.get(kind, 0))
                if grew > 0:
                    dropped[kind] = dropped.get(kind, 0) + grew
        cur = self._db.x(
            conn,
            "INSERT INTO device_health (device_id, last_seq, dropped, parse_errors, spool_bytes,"
            " clock_skew_seconds, rejected, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq,"
            " dropped = excluded.dropped, parse_errors = excluded.parse_errors,"
            " spool_bytes = excluded.spool_bytes, clock_skew_seconds ="
            " excluded.clock_skew_seconds, rejected = excluded.rejected,"
            " updated_at = excluded.updated_at WHERE excluded.last_seq > device_health.last_seq"
            " RETURNING last_seq",
            (
                dev,
                inc.seq,
                json.dumps(r.dropped),
                r.parse_errors,
                r.spool_bytes,
                r.clock_skew_seconds,
                r.rejected,
                now,
            ),
        )
        return cur.fetchone() is not None
