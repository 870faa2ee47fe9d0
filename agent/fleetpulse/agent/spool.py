"""Durable on-disk queue of records awaiting acknowledgement (SQLite, WAL, fsync on commit).

Every record is committed here before any send and deleted only once the collector has
acknowledged it. Sequence numbers come from AUTOINCREMENT and start at the creation time in
microseconds, so a spool recreated after corruption never reuses an earlier number.

Damage (SQLITE_CORRUPT / SQLITE_NOTADB, found by ``quick_check`` at open or by any later
statement) is salvaged, not discarded: every row that still reads back is copied with its
seq into a fresh spool (agent/salvage.py), the rows that do not are counted under
``dropped["unreadable"]`` (sent in the next health record), and the damaged files are kept
as ``spool.db.corrupt-<time>``. A 0-byte spool file or a lost write-ahead log (``-shm``
left by a crash but no ``-wal``) loses records that cannot be counted: that is logged and
counted in ``damage_unknown``. The rename sequence is restartable: a crash mid-salvage is
finished at the next open (``spool.db.salvaged`` is complete, ``.salvage-tmp`` is not).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.salvage import Salvage, connect_readonly, is_damage, salvage
from fleetpulse.contract.records import PRIORITY, Kind

T = TypeVar("T")

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
    corrupt_spools: int = 0  # times this spool was found damaged and salvaged
    damage_unknown: int = 0  # of those (and 0-byte files, lost WALs), losses not countable


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
        pending: list[str] = []  # losses found before opening, to count once it is open
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._finish_interrupted_salvage(path)
            pending = self._lost_files(path)
        try:
            self._db = self._open(path)
        except sqlite3.OperationalError as exc:  # cannot open: permissions, disk, locks
            raise ConfigError(f"cannot open spool {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # opened, but not a (sound) database
            if path == ":memory:":
                raise
            self._db = self._salvage(exc)
        if pending:
            with self._transaction():
                self._bump(self._db, "damage_unknown", len(pending))
        self._bytes = self._stored_bytes()

    def _stored_bytes(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0])

    def _open(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
            if db.execute("SELECT seq FROM sqlite_sequence WHERE name='spool'").fetchone() is None:
                start = int(self._clock() * 1_000_000)
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)", (start,))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- damage ------------------------------------------------------------------
    def _lost_files(self, path: str) -> list[str]:
        """Losses visible before opening: a 0-byte file, a write-ahead log gone missing.
        Logged here; returns one line per loss (counted once the spool is open)."""
        lost: list[str] = []
        if os.path.exists(path) and os.path.getsize(path) == 0:
            lost.append("the spool file is empty (0 bytes)")
        elif os.path.exists(path + "-shm") and not os.path.exists(path + "-wal"):
            # a crash leaves -wal and -shm; a clean close removes both; -shm alone means
            # the log with the latest commits was deleted (sqlite.org/wal.html)
            lost.append("its write-ahead log (-wal) is missing")
        for what in lost:
            log.error("spool %s: %s; the records it held are lost, how many is unknown", path, what)
        return lost

    def _finish_interrupted_salvage(self, path: str) -> None:
        """Completes a salvage a crash interrupted (see the module docstring)."""
        if os.path.exists(path + ".salvage-tmp"):
            os.remove(path + ".salvage-tmp")  # incomplete: the damaged file is still in place
        if os.path.exists(path + ".salvaged"):
            self._install(path)

    def _install(self, path: str) -> str:
        """Moves the damaged files aside and the complete salvaged copy into place."""
        aside = f"{path}.corrupt-{int(self._clock())}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        os.replace(path + ".salvaged", path)
        _fsync_dir(path)
        return aside

    def _salvage(self, exc: Exception) -> sqlite3.Connection:
        """Copies what is readable into a fresh spool in place of the damaged one."""
        path = self.path
        got = salvage(path)
        tmp = path + ".salvage-tmp"
        if os.path.exists(tmp):
            os.remove(tmp)
        self._write_salvage(tmp, got)
        os.replace(tmp, path + ".salvaged")
        aside = self._install(path)
        log.error(
            "spool %s was damaged (%s): %d record(s) salvaged, %s unreadable; "
            "the damaged file is kept as %s",
            path,
            exc,
            len(got.rows),
            got.unreadable_text,
            aside,
        )
        return self._open(path)

    def _write_salvage(self, tmp: str, got: Salvage) -> None:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO spool (seq, kind, priority, created_at, size, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                got.rows,
            )
            db.executemany(
                "INSERT OR REPLACE INTO rejected (seq, kind, reason, payload) VALUES (?, ?, ?, ?)",
                got.rejected,
            )
            db.executemany("INSERT INTO counters (name, value) VALUES (?, ?)", got.counters.items())
            self._bump(db, "corrupt_spools", 1)
            if got.unreadable:
                self._bump(db, "dropped:unreadable", got.unreadable)
            if got.unreadable is None or not got.complete:
                self._bump(db, "damage_unknown", 1)
            # above every seq the damaged spool may have handed out, so none is reused
            start = max(
                got.last_seq or 0,
                got.rows[-1][0] if got.rows else 0,
                int(self._clock() * 1_000_000),
            )
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'spool'")
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)", (start,))
            db.execute("COMMIT")
        finally:
            db.close()

    def _guarded(self, op: Callable[[], T]) -> T:
        """Runs ``op``; if the file turns out damaged, salvages it and runs ``op`` again."""
        try:
            return op()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc) or self.path == ":memory:":
                raise
            self._db.close()
            self._db = self._salvage(exc)
            self._bytes = self._stored_bytes()
            return op()

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, by: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def put(self, items: Iterable[tuple[Kind, bytes]]) -> list[int]:
        """Commits records durably; returns their sequence numbers."""
        batch = list(items)
        return self._guarded(lambda: self._put(batch))

    def _put(self, items: list[tuple[Kind, bytes]]) -> list[int]:
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
        rows = self._guarded(
            lambda: self._db.execute(
                "SELECT seq, payload FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        )
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
        self._guarded(lambda: self._ack(seqs))

    def _ack(self, seqs: list[int]) -> None:
        with self._transaction():
            freed = self._delete(seqs)
        self._bytes -= freed

    def reject(self, seqs: list[int], reason: str) -> None:
        """Moves records the collector refused as invalid aside (kept, never resent)."""
        if not seqs:
            return
        self._guarded(lambda: self._reject(seqs, reason))

    def _reject(self, seqs: list[int], reason: str) -> None:
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
        return self._guarded(self._enforce_cap)

    def _enforce_cap(self) -> dict[str, int]:
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
        """Records and bytes waiting, per kind; the cumulative drop and damage counters."""
        return self._guarded(self._stats)

    def _stats(self) -> SpoolStats:
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
            corrupt_spools=counters.get("corrupt_spools", 0),
            damage_unknown=counters.get("damage_unknown", 0),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True, slots=True)
class Inspection:
    """A spool as ``status`` sees it, read without changing anything on disk.

    ``stats`` when it reads soundly; ``damage`` lines when it does not (or when records
    were lost before it was opened), with ``salvage`` telling what the next open of the
    spool will keep; ``exists`` False when there is no spool file yet."""

    exists: bool
    stats: SpoolStats | None = None
    damage: tuple[str, ...] = ()
    salvage: Salvage | None = None


def _read_stats(db: sqlite3.Connection) -> SpoolStats:
    by_kind = {
        str(k): int(n) for k, n in db.execute("SELECT kind, COUNT(*) FROM spool GROUP BY kind")
    }
    size = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0])
    counters = {str(k): int(v) for k, v in db.execute("SELECT name, value FROM counters")}
    return SpoolStats(
        records=sum(by_kind.values()),
        bytes=size,
        by_kind=by_kind,
        dropped={k[8:]: v for k, v in counters.items() if k.startswith("dropped:")},
        rejected=counters.get("rejected", 0),
        corrupt_spools=counters.get("corrupt_spools", 0),
        damage_unknown=counters.get("damage_unknown", 0),
    )


def inspect(path: str) -> Inspection:
    """Reads the spool at ``path`` read-only (agent/salvage.py ``connect_readonly``): no
    file is created, moved or written, whether the spool is sound, damaged or missing."""
    if not os.path.exists(path):
        return Inspection(exists=False)
    damage: list[str] = []
    if os.path.getsize(path) == 0:
        damage.append("the spool file is empty (0 bytes): records lost, how many is unknown")
    elif os.path.exists(path + "-shm") and not os.path.exists(path + "-wal"):
        damage.append(
            "its write-ahead log (-wal) is missing: records committed since the last"
            " checkpoint are lost, how many is unknown"
        )
    try:
        db = connect_readonly(path)
    except sqlite3.DatabaseError as exc:
        return Inspection(True, None, (*damage, f"cannot be opened: {exc}"), salvage(path))
    try:
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(str(check[0]) if check else "quick_check gave no answer")
        if (
            db.execute(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'spool'"
            ).fetchone()
            is None
        ):
            return Inspection(True, None, tuple(damage))  # created, never written
        return Inspection(True, _read_stats(db), tuple(damage))
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and not is_damage(exc):
            raise ConfigError(f"cannot read spool {path}: {exc}") from None  # locked, I/O
        first = str(exc).splitlines()[0]
        return Inspection(True, None, (*damage, f"damaged ({first})"), salvage(path))
    finally:
        db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised says more
                self._db.execute("ROLLBACK")


def _fsync_dir(path: str) -> None:
    """Makes the renames in ``path``'s directory durable (rename(2) is not, until then)."""
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
