"""Ingest: a group of validated reports stored in one transaction.

Duplicates are dropped by the primary key ``(device_id, seq)`` and by each record's natural
key (a boot per device, a sign-in and its end per device/boot/session) with ``ON CONFLICT DO NOTHING
RETURNING``, so exactly the rows this transaction inserted come back, even with several
collectors writing to one database. Sign-ins in progress and device health are kept as the
latest per key (an upsert guarded by ``last_seq``). Each kind of a round is written with the
store's ``Writes`` (store/writes.py): one statement per row or chunk on SQLite, one array
statement on PostgreSQL, where a group's statements share one pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

from fleetpulse.collector.model import Hardware, Incoming, Outcome, Report
from fleetpulse.collector.store.array_writes import ArrayWrites
from fleetpulse.collector.store.contributors import contributor_rows
from fleetpulse.collector.store.database import Connection, Database, Params
from fleetpulse.collector.store.row_writes import RowWrites
from fleetpulse.collector.store.writes import Stored, Writes
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    HealthRecord,
    Phase,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)

_BOOTS = (
    "device_id",
    "seq",
    "boot_id",
    "boot_time",
    "total_seconds",
    "boot_type",
    "degraded",
    "phases",
    "culprits",
    "received_at",
)
_SIGNINS = (
    "device_id",
    "seq",
    "boot_id",
    "session_id",
    "user_hash",
    "started_at",
    "total_seconds",
    "core_seconds",
    "responsive_seconds",
    "phases",
    "first_login",
    "after_update",
    "received_at",
)
#: The columns of ``app_usage`` ingest writes, in row order.
APP_USAGE = (
    "device_id",
    "seq",
    "interval_start",
    "interval_seconds",
    "app",
    "launches",
    "running_seconds",
    "foreground_seconds",
    "cpu_seconds",
    "peak_rss_bytes",
    "crashes",
)
_ENDS = ("device_id", "seq", "boot_id", "session_id", "ended_at", "reason", "received_at")
_CONTRIBUTORS = ("device_id", "seq", "ordinal", "kind", "name", "seconds")
_FACTS = (
    "last_seen",
    "hostname",
    "os_version",
    "agent_version",
    "manufacturer",
    "model",
    "memory_bytes",
    "system_disk",
)
_SIGNIN_KEY = ("device_id", "boot_id", "session_id")
_LIVE = (*_SIGNIN_KEY, "started_at", "elapsed_seconds", "updated_at", "last_seq")
_HEALTH = (
    "device_id",
    "last_seq",
    "dropped",
    "parse_errors",
    "spool_bytes",
    "clock_skew_seconds",
    "rejected",
    "updated_at",
)


def _b(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _phase(record: SigninRecord, name: str) -> float | None:
    for p in record.phases:
        if p.name == name:
            return p.seconds
    return None


def _layers(keys: Sequence[Hashable]) -> list[list[int]]:
    """Indexes of ``keys`` in layers: layer n holds each key's n-th occurrence, in the
    order given, so no layer holds a key twice."""
    layers: list[list[int]] = []
    seen: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(layers):
            layers.append([])
        layers[n].append(i)
    return layers


#: ``json.dumps(..., separators=(",", ":"))``'s encoder, made once (dumps makes one per call
#: when given any option: a few microseconds per sign-in).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _phases_json(phases: Sequence[Phase]) -> str:
    return _COMPACT.encode({p.name: p.seconds for p in phases})


class Ingest:
    """Writes reports into one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._w: Writes = ArrayWrites() if db.dialect.arrays else RowWrites(db)

    def ingest(self, reports: list[Report], now: float) -> list[Outcome]:
        """Stores a group of validated reports in one transaction; one Outcome per report,
        in order.

        The group is stored in rounds, each holding at most one report per device (a
        device's first report of the group, then its second...): every statement's keys
        start with ``device_id``, so the reports of one round cannot touch each other's
        rows and each round is stored with one statement per kind (PostgreSQL, all in one
        pipeline; per row or chunk of rows on SQLite) with exactly the result of storing
        its reports one by one. Raises the driver's error (nothing committed) or
        StoreUnavailable (store/database.py)."""
        outcomes = [Outcome() for _ in reports]
        with self._db.write() as conn, self._w.batch(conn):
            for members in _layers([r.device_id for r in reports]):
                self._ingest_round(conn, [(reports[i], outcomes[i]) for i in members], now)
        return outcomes

    def _ingest_round(
        self, conn: Connection, round_: list[tuple[Report, Outcome]], now: float
    ) -> None:
        """Stores reports of distinct devices (see ``ingest``)."""
        w = self._w
        w.update(
            conn,
            "devices",
            _FACTS,
            "device_id",
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
        # Issued in this order, results read only when needed (see Writes.batch); the
        # server runs them in this order, so in-progress rows of sign-ins completed here are
        # gone and those sign-ins stored before the in-progress upserts look for them.
        new_boots = w.insert(conn, "boots", _BOOTS, boots, new=True)
        new_signins = w.insert(conn, "signins", _SIGNINS, signins, new=True)
        w.delete(conn, "signins_in_progress", _SIGNIN_KEY, finished)
        later = [
            w.insert(conn, "app_usage", APP_USAGE, apps, new=True),
            *self._upsert_live(conn, live, now),
            # session ends: once per (device_id, seq) and per (device_id, boot_id, session_id)
            w.insert(conn, "signin_ends", _ENDS, ends, new=True),
        ]
        stored = new_signins()
        rows = contributor_rows(completed, stored)
        w.insert(conn, "signin_contributors", _CONTRIBUTORS, rows, new=False)
        new = stored | new_boots()
        self._keep_latest(conn, new, signins, boots)
        new |= self._upsert_health(conn, health, now)
        for result in later:
            new |= result()
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
        for rows, at, total, cols in (
            (signins, 5, 6, ("last_signin_at", "last_signin_seconds")),
            (boots, 3, 4, ("last_boot_at", "last_boot_seconds")),
        ):
            latest: dict[str, tuple[Any, Any]] = {}
            for row in rows:
                dev = str(row[0])
                if (dev, row[1]) in new and (dev not in latest or latest[dev][0] < row[at]):
                    latest[dev] = (row[at], row[total])
            self._w.update(
                conn,
                "devices",
                cols,
                "device_id",
                [(a, t, dev) for dev, (a, t) in latest.items()],
                newer=cols[0],
            )

    def _upsert_live(
        self, conn: Connection, live: list[tuple[str, Incoming]], now: float
    ) -> list[Stored]:
        """Keeps the latest of each sign-in in progress (guarded by ``last_seq``), unless
        that sign-in is already complete; the results are the (device_id, seq) that changed
        a row. Updates of one sign-in in one report go in successive statements, in order
        (one statement cannot change a row twice), so the outcome is that of one by one."""
        rows: list[Params] = []
        for dev, inc in live:
            r = inc.record
            assert isinstance(r, SigninRecord)
            rows.append(
                (dev, r.boot_id, r.session_id, r.started_at, r.elapsed_seconds, now, inc.seq)
            )
        return [
            self._w.keep_latest(
                conn,
                "signins_in_progress",
                _LIVE,
                _SIGNIN_KEY,
                ("elapsed_seconds", "updated_at", "last_seq"),
                [rows[i] for i in layer],
                unless="signins",
            )
            for layer in _layers([row[:3] for row in rows])
        ]

    def _upsert_health(
        self, conn: Connection, health: list[tuple[str, Incoming, Outcome]], now: float
    ) -> set[tuple[str, int]]:
        """Keeps each device's latest health; adds what its drop counters grew by to its
        report's ``dropped`` (agents report cumulative totals, so resends add nothing).
        Returns the (device_id, seq) of the records kept. Per layer (a device's n-th
        health record of the round): one read of the previous rows, one upsert."""
        kept: set[tuple[str, int]] = set()
        for layer in _layers([dev for dev, _, _ in health]):
            items = [health[i] for i in layer]
            prev: dict[str, tuple[dict[str, int], int | None]] = {
                str(dev): (json.loads(dropped), int(last_seq))
                for dev, dropped, last_seq in self._w.select(
                    conn,
                    "device_health",
                    ("device_id", "dropped", "last_seq"),
                    "device_id",
                    [dev for dev, _, _ in items],
                )
            }
            rows: list[Params] = []
            for dev, inc, outcome in items:
                r = inc.record
                assert isinstance(r, HealthRecord)
                before, last_seq = prev.get(dev, ({}, None))
                if last_seq is None or last_seq < inc.seq:
                    for kind, total in r.dropped.items():
                        grew = int(total) - int(before.get(kind, 0))
                        if grew > 0:
                            outcome.dropped[kind] = outcome.dropped.get(kind, 0) + grew
                rows.append(
                    (
                        dev,
                        inc.seq,
                        json.dumps(r.dropped),
                        r.parse_errors,
                        r.spool_bytes,
                        r.clock_skew_seconds,
                        r.rejected,
                        now,
                    )
                )
            kept |= self._w.keep_latest(
                conn, "device_health", _HEALTH, ("device_id",), _HEALTH[1:], rows
            )()
        return kept

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
