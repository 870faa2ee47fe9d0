"""Durable on-disk queue of records awaiting acknowledgement (SQLite, WAL, fsync on commit).

Every record is committed here before any send and deleted only once the collector has
acknowledged it. Sequence numbers come from AUTOINCREMENT and start at the creation time in
microseconds, so a spool recreated after corruption never reuses an earlier number.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.errors import ConfigError
from agent.records import PRIORITY, Kind

log = logging.getLogger("fleetpulse.agent.spool")

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_AGE = 30 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS spool_by_value ON spool (priority, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SpoolStats:
    records: int
    bytes: int
    by_kind: dict[str, int]
    dropped: dict[str, int]
    rejected: int


class SpoolCorrupt(Exception):
    """The spool file is not a readable spool database."""


class Spool:
    def __init__(
        self,
        path: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock = clock
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = self._open(path)
        except sqlite3.OperationalError as exc:  # cannot open: permissions, disk, locks
            raise ConfigError(f"cannot open spool {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # opened, but not a (sound) database
            if path == ":memory:":
                raise
            self._db = self._set_aside_and_reopen(path, exc)
        self._bytes = int(
            self._db.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0]
        )

    def _open(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            db.execute("PRAGMA quick_check").fetchone()
            if db.execute("SELECT seq FROM sqlite_sequence WHERE name='spool'").fetchone() is None:
                start = int(self._clock() * 1_000_000)
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)", (start,))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside_and_reopen(self, path: str, exc: Exception) -> sqlite3.Connection:
        aside = f"{path}.corrupt-{int(self._clock())}"
        log.error("spool %s is unreadable (%s); set aside as %s", path, exc, aside)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        db = self._open(path)
        self._bump(db, "corrupt_spools", 1)
        return db

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, by: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def put(self, items: Iterable[tuple[Kind, bytes]]) -> list[int]:
        """Commits records durably; returns their sequence numbers."""
        now = self._clock()
        seqs: list[int] = []
        added = 0
        with self._transaction():
            for kind, payload in items:
                cur = self._db.execute(
                    "INSERT INTO spool (kind, priority, created_at, size, payload) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (kind.value, PRIORITY[kind], now, len(payload), payload),
                )
                seqs.append(int(cur.lastrowid or 0))
                added += len(payload)
        self._bytes += added
        if self._bytes > self.max_bytes:
            self.enforce_cap()
        return seqs

    def peek(self, limit: int = 500, max_bytes: int = 1_000_000) -> list[tuple[int, bytes]]:
        """The oldest records, most valuable first within the byte budget."""
        rows = self._db.execute(
            "SELECT seq, payload FROM spool ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        out: list[tuple[int, bytes]] = []
        total = 0
        for seq, payload in rows:
            if out and total + len(payload) > max_bytes:
                break
            out.append((int(seq), bytes(payload)))
            total += len(payload)
        return out

    def ack(self, seqs: list[int]) -> None:
        """Forgets records the collector has committed."""
        if not seqs:
            return
        with self._transaction():
            freed = self._delete(seqs)
        self._bytes -= freed

    def reject(self, seqs: list[int], reason: str) -> None:
        """Moves records the collector refused as invalid aside (kept, never resent)."""
        if not seqs:
            return
        with self._transaction():
            marks = ",".join("?" * len(seqs))
            self._db.execute(
                f"INSERT OR REPLACE INTO rejected (seq, kind, reason, payload) "
                f"SELECT seq, kind, ?, payload FROM spool WHERE seq IN ({marks})",
                (reason, *seqs),
            )
            freed = self._delete(seqs)
            self._bump(self._db, "rejected", len(seqs))
        self._bytes -= freed

    def _delete(self, seqs: list[int]) -> int:
        freed = 0
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            marks = ",".join("?" * len(chunk))
            freed += int(
                self._db.execute(
                    f"SELECT COALESCE(SUM(size), 0) FROM spool WHERE seq IN ({marks})", chunk
                ).fetchone()[0]
            )
            self._db.execute(f"DELETE FROM spool WHERE seq IN ({marks})", chunk)
        return freed

    def enforce_cap(self) -> dict[str, int]:
        """Drops expired records, then the least valuable oldest ones, until under the cap."""
        dropped: dict[str, int] = {}
        with self._transaction():
            cutoff = self._clock() - self.max_age
            for kind, n, size in self._db.execute(
                "SELECT kind, COUNT(*), SUM(size) FROM spool WHERE created_at < ? GROUP BY kind",
                (cutoff,),
            ).fetchall():
                dropped[kind] = dropped.get(kind, 0) + int(n)
                self._bytes -= int(size)
            self._db.execute("DELETE FROM spool WHERE created_at < ?", (cutoff,))
            while self._bytes > self.max_bytes:
                rows = self._db.execute(
                    "SELECT seq, kind, size FROM spool ORDER BY priority, seq LIMIT 1000"
                ).fetchall()
                if not rows:
                    self._bytes = 0
                    break
                victims: list[int] = []
                for seq, kind, size in rows:
                    if self._bytes <= self.max_bytes:
                        break
                    victims.append(int(seq))
                    dropped[kind] = dropped.get(kind, 0) + 1
                    self._bytes -= int(size)
                self._delete(victims)
            for kind, n in dropped.items():
                self._bump(self._db, f"dropped:{kind}", n)
        if dropped:
            log.warning("spool over its cap: dropped %s", dropped)
        return dropped

    def stats(self) -> SpoolStats:
        by_kind = {
            str(k): int(n)
            for k, n in self._db.execute("SELECT kind, COUNT(*) FROM spool GROUP BY kind")
        }
        counters = {str(k): int(v) for k, v in self._db.execute("SELECT name, value FROM counters")}
        return SpoolStats(
            records=sum(by_kind.values()),
            bytes=self._bytes,
            by_kind=by_kind,
            dropped={k[8:]: v for k, v in counters.items() if k.startswith("dropped:")},
            rejected=counters.get("rejected", 0),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
