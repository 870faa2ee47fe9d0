"""Ingest: a group of validated reports stored in one transaction.

Duplicates are dropped by the primary key ``(device_id, seq)`` and by each record's natural
key (a boot per device, a sign-in and its end per device/boot/session) with ``ON CONFLICT DO NOTHING
RETURNING``, so exactly the rows this transaction inserted come back, even with several
collectors writing to one database. Sign-ins in progress and device health are kept as the
latest per key (an upsert guarded by ``last_seq``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fleetpulse.collector.model import Hardware, Incoming, Outcome, Report
from fleetpulse.collector.store.contributors import Contributors
from fleetpulse.collector.store.database import Connection, Database, Params
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    HealthRecord,
    Phase,
    SigninEndRecord,
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


def _rounds(reports: list[Report]) -> list[list[int]]:
    """Indexes of ``reports`` in rounds: round n holds each device's n-th report, in the
    order given."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, report in enumerate(reports):
        n = seen.get(report.device_id, 0)
        seen[report.device_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return rounds


def _phases_json(phases: Sequence[Phase]) -> str:
    return json.dumps({p.name: p.seconds for p in phases}, separators=(",", ":"))


class Ingest:
    """Writes reports into one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._contributors = Contributors(db)

    def ingest(self, reports: list[Report], now: float) -> list[Outcome]:
        """Stores a group of validated reports in one transaction; one Outcome per report,
        in order.

        The group is stored in rounds, each holding at most one report per device (a
        device's first report of the group, then its second...): every statement's keys
        start with ``device_id``, so the reports of one round cannot touch each other's
        rows and each round is stored with one statement per kind (multi-row ``INSERT``,
        ``executemany``) with exactly the result of storing its reports one by one."""
        outcomes = [Outcome() for _ in reports]
        with self._db.write() as conn:
            for members in _rounds(reports):
                self._ingest_round(conn, [(reports[i], outcomes[i]) for i in members], now)
        return outcomes

    def _insert_new(
        self, conn: Connection, table: str, cols: str, rows: list[Params]
    ) -> set[tuple[str, int]]:
        """Inserts rows whose first two columns are (device_id, seq); returns the
        (device_id, seq) of the rows inserted (not those a key already held).

        sqlite3 parses each statement in C: one multi-row INSERT per chunk of rows is the
        cheapest there. psycopg parses placeholders in Python for every distinct statement
        text (psycopg/_queries.py; a multi-row INSERT of another size is another text), so
        on PostgreSQL one single-row statement goes through ``executemany(returning=True)``,
        which psycopg sends in pipeline mode as a prepared statement (psycopg docs,
        "Pipeline mode")."""
        new: set[tuple[str, int]] = set()
        width = cols.count(",") + 1
        row_sql = "(" + ",".join("?" * width) + ")"
        head = f"INSERT INTO {table} ({cols}) VALUES "
        tail = " ON CONFLICT DO NOTHING RETURNING device_id, seq"
        if self._db.dialect.placeholder != "?":
            cur: Any = conn.cursor()
            cur.executemany(self._db.sql(head + row_sql + tail), rows, returning=True)
            while True:
                new.update((str(r[0]), int(r[1])) for r in cur.fetchall())
                if not cur.nextset():
                    return new
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            values = ",".join([row_sql] * len(chunk))
            params = [v for row in chunk for v in row]
            got = self._db.x(conn, head + values + tail, params).fetchall()
            new.update((str(r[0]), int(r[1])) for r in got)
        return new

    def _many(self, conn: Connection, sql: str, rows: list[Params]) -> None:
        """One ``?``-placeholder statement for each of ``rows`` (PEP 249 executemany)."""
        if rows:
            conn.cursor().executemany(self._db.sql(sql), rows)

    def _ingest_round(
        self, conn: Connection, round_: list[tuple[Report, Outcome]], now: float
    ) -> None:
        """Stores reports of distinct devices (see ``ingest``)."""
        self._many(
            conn,
            "UPDATE devices SET last_seen = ?, hostname = ?, os_version = ?, agent_version = ?,"
            " manufacturer = ?, model = ?, memory_bytes = ?, system_disk = ? WHERE device_id = ?",
            [
                (
                    now,
                    r.facts.hostname,
                    r.facts.os_version,
                    r.facts.agent_version,
                    *Hardware.of(r.facts).columns(),
                    r.device_id,
                )
                for r, _ in round_
            ],
        )
        boots: list[Params] = []
        signins: list[Params] = []
        finished: list[Params] = []
        completed: list[tuple[str, Incoming]] = []
        apps: list[Params] = []
        live: list[tuple[str, Incoming]] = []
        health: list[tuple[str, Incoming, Outcome]] = []
        ends: list[Params] = []
        for report, outcome in round_:
            dev = report.device_id
            for inc in report.records:
                r = inc.record
                if isinstance(r, SigninRecord):
                    if r.state is SigninState.IN_PROGRESS:
                        live.append((dev, inc))
                    else:
                        signins.append(self._signin_row(dev, inc, now))
                        completed.append((dev, inc))
                        finished.append((dev, r.boot_id, r.session_id))
                elif isinstance(r, AppUsageRecord):
                    apps.append(self._app_row(dev, inc))
                elif isinstance(r, BootRecord):
                    boots.append(self._boot_row(dev, inc, now))
                elif isinstance(r, HealthRecord):
                    health.append((dev, inc, outcome))
                elif isinstance(r, SigninEndRecord):
                    ends.append(self._signin_end_row(dev, inc, now))
        new: set[tuple[str, int]] = set()
        if boots:
            new |= self._insert_new(
                conn,
                "boots",
                "device_id, seq, boot_id, boot_time,"
                " total_seconds, boot_type, degraded, phases, culprits,"
                " received_at",
                boots,
            )
        if signins:
            stored = self._insert_new(
                conn,
                "signins",
                "device_id, seq, boot_id, session_id, user_hash, started_at,"
                " total_seconds, core_seconds, responsive_seconds, phases, first_login,"
                " after_update, received_at",
                signins,
            )
            new |= stored
            self._contributors.insert(conn, completed, stored)
            self._many(
                conn,
                "DELETE FROM signins_in_progress WHERE device_id = ? AND"
                " boot_id = ? AND session_id = ?",
                finished,
            )
        self._keep_latest(conn, new, signins, boots)
        if apps:
            new |= self._insert_new(
                conn,
                "app_usage",
                "device_id, seq, interval_start,"
                " interval_seconds, app, launches, running_seconds,"
                " foreground_seconds, cpu_seconds, peak_rss_bytes, crashes",
                apps,
            )
        new |= self._upsert_live(conn, live, now)
        new |= self._insert_signin_ends(conn, ends)
        for dev, inc, outcome in health:
            if self._upsert_health(conn, dev, inc, now, outcome.dropped):
                new.add((dev, inc.seq))
        for report, outcome in round_:
            dev = report.device_id
            for inc in report.records:
                if (dev, inc.seq) in new:
                    outcome.accepted.append(inc)
                else:
                    kind = inc.record.kind.value
                    outcome.duplicates[kind] = outcome.duplicates.get(kind, 0) + 1

    def _keep_latest(
        self,
        conn: Connection,
        new: set[tuple[str, int]],
        signins: list[Params],
        boots: list[Params],
    ) -> None:
        """Keeps each device's latest sign-in (by start) and boot (by boot time) on its
        ``devices`` row, from the rows just inserted, for the fleet-state refresh."""
        for rows, at, total, sql in (
            (
                signins,
                5,
                6,
                "UPDATE devices SET last_signin_at = ?, last_signin_seconds = ? WHERE"
                " device_id = ? AND (last_signin_at IS NULL OR last_signin_at < ?)",
            ),
            (
                boots,
                3,
                4,
                "UPDATE devices SET last_boot_at = ?, last_boot_seconds = ? WHERE"
                " device_id = ? AND (last_boot_at IS NULL OR last_boot_at < ?)",
            ),
        ):
            latest: dict[str, tuple[Any, Any]] = {}
            for row in rows:
                dev = str(row[0])
                if (dev, row[1]) in new and (dev not in latest or latest[dev][0] < row[at]):
                    latest[dev] = (row[at], row[total])
            self._many(conn, sql, [(a, t, dev, a) for dev, (a, t) in latest.items()])

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

    def _insert_signin_ends(self, conn: Connection, rows: list[Params]) -> set[tuple[str, int]]:
        """Stores session ends: once per (device_id, seq) and per sign-in (device_id,
        boot_id, session_id); a resend or a second end of one session adds nothing."""
        if not rows:
            return set()
        return self._insert_new(
            conn,
            "signin_ends",
            "device_id, seq, boot_id, session_id, ended_at, reason, received_at",
            rows,
        )

    @staticmethod
    def _signin_end_row(dev: str, inc: Incoming, now: float) -> Params:
        r = inc.record
        assert isinstance(r, SigninEndRecord)
        return (dev, inc.seq, r.boot_id, r.session_id, r.ended_at, r.reason.value, now)

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

    def _upsert_live(
        self, conn: Connection, live: list[tuple[str, Incoming]], now: float
    ) -> set[tuple[str, int]]:
        """Keeps the latest of each sign-in in progress (guarded by ``last_seq``), unless
        that sign-in is already complete; returns the (device_id, seq) that changed a row.
        In order, one statement per record: on PostgreSQL through ``executemany(…,
        returning=True)`` (one pipeline, see ``_insert_new``), on SQLite one by one."""
        sql = self._db.sql(
            "INSERT INTO signins_in_progress (device_id, boot_id, session_id, started_at,"
            " elapsed_seconds, updated_at, last_seq)"
            " SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signins"
            " WHERE device_id = ? AND boot_id = ? AND session_id = ?)"
            " ON CONFLICT (device_id, boot_id, session_id) DO UPDATE SET"
            " elapsed_seconds = excluded.elapsed_seconds, updated_at = excluded.updated_at,"
            " last_seq = excluded.last_seq WHERE excluded.last_seq > signins_in_progress.last_seq"
            " RETURNING last_seq"
        )
        rows: list[Params] = []
        for dev, inc in live:
            r = inc.record
            assert isinstance(r, SigninRecord)
            key = (dev, r.boot_id, r.session_id)
            rows.append((*key, r.started_at, r.elapsed_seconds, now, inc.seq, *key))
        changed: set[tuple[str, int]] = set()
        if not rows:
            return changed
        if self._db.dialect.placeholder != "?":
            cur: Any = conn.cursor()
            cur.executemany(sql, rows, returning=True)
            for dev, inc in live:
                if cur.fetchone() is not None:
                    changed.add((dev, inc.seq))
                cur.nextset()
            return changed
        for (dev, inc), row in zip(live, rows, strict=True):
            if conn.execute(sql, row).fetchone() is not None:
                changed.add((dev, inc.seq))
        return changed

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
