"""Data retention in the store: pruning events older than what is kept, and the retention
in effect recorded in ``meta`` so that the report can say when its period reaches past it.

Each kind is pruned by its event time, the same column the report reads by:

========== ============= ==================================================
kind       table         event time
========== ============= ==================================================
signin     signins       ``started_at`` (with its ``signin_contributors``)
signin_end signin_ends   ``ended_at`` (kept as long as sign-ins)
boot       boots         ``boot_time``
app_usage  app_usage     ``interval_start``
========== ============= ==================================================

Rows go in batches, each its own short write transaction, so that ingest (which takes the
same write lock, see database.py) waits for one batch at most, never for a whole pass. A
batch is chosen by the table's primary key ``(device_id, seq)``:
``DELETE ... WHERE (device_id, seq) IN (SELECT device_id, seq ... LIMIT n)``, a row-value
comparison both SQLite (3.15+, "Row Values") and PostgreSQL (section 9.24.5) accept, so one
statement serves both stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpulse.collector.store.database import Database

#: Rows deleted per transaction (per kind) unless a caller says otherwise.
BATCH = 5000

#: kind -> (table, event-time column)
TABLES: dict[str, tuple[str, str]] = {
    "signin": ("signins", "started_at"),
    "signin_end": ("signin_ends", "ended_at"),
    "boot": ("boots", "boot_time"),
    "app_usage": ("app_usage", "interval_start"),
}

#: Kinds kept as long as another kind (no retention option of their own).
SAME_AS = {"signin_end": "signin"}

#: The kinds with a retention of their own (``serve --retain-*``), recorded in ``meta``.
OWN_POLICY = tuple(k for k in TABLES if k not in SAME_AS)

#: The meta key holding the retention in effect for a kind, in seconds (written by serve).
META_KEY = "retention_seconds.{kind}"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of event is kept, in seconds after its event time."""

    signin: float
    boot: float
    app_usage: float

    def seconds(self, kind: str) -> float:
        """The retention of ``kind`` (one of TABLES), in seconds; a sign-in's end is kept
        as long as sign-ins, so a kept sign-in keeps its session length."""
        return float(getattr(self, SAME_AS.get(kind, kind)))


class Retention:
    """Prunes old events from one database and records the retention in effect."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def prune_batch(self, kind: str, before: float, limit: int = BATCH) -> int:
        """Deletes up to ``limit`` events of ``kind`` whose event time is before ``before``
        (Unix seconds), in one transaction; sign-ins take their contributors with them.
        Returns the number of events deleted (contributors not counted); fewer than
        ``limit`` means none older is left. KeyError for an unknown kind."""
        table, column = TABLES[kind]
        pick = (
            f"SELECT device_id, seq FROM {table} WHERE {column} < ?"
            f" ORDER BY {column}, device_id, seq LIMIT ?"
        )
        with self._db.write() as conn:
            if kind == "signin":
                # the same ordered pick inside the same transaction: the same sign-ins
                self._db.x(
                    conn,
                    f"DELETE FROM signin_contributors WHERE (device_id, seq) IN ({pick})",
                    (before, limit),
                )
            cur = self._db.x(
                conn, f"DELETE FROM {table} WHERE (device_id, seq) IN ({pick})", (before, limit)
            )
            return max(int(cur.rowcount), 0)

    def record(self, policy: RetentionPolicy) -> None:
        """Writes ``policy`` to ``meta`` (one key per kind of OWN_POLICY, seconds),
        replacing what an earlier ``serve`` wrote."""
        with self._db.write() as conn:
            for kind in OWN_POLICY:
                self._db.x(
                    conn,
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (META_KEY.format(kind=kind), repr(policy.seconds(kind))),
                )

    def recorded(self) -> dict[str, float]:
        """The retention last recorded by ``serve``, seconds per kind; kinds never
        recorded (a database no ``serve`` with retention has opened) are absent."""
        keys = {META_KEY.format(kind=kind): kind for kind in OWN_POLICY}
        rows = self._db.read(
            f"SELECT key, value FROM meta WHERE key IN ({','.join('?' * len(keys))})",
            tuple(keys),
        )
        return {keys[str(k)]: float(v) for k, v in rows}


DAY = 86400.0
#: Defaults of ``serve --retain-*``: app usage 90 days; sign-ins and boots 400 days, so a
#: period can be compared with the same period a year before.
DEFAULT_POLICY = RetentionPolicy(signin=400 * DAY, boot=400 * DAY, app_usage=90 * DAY)
