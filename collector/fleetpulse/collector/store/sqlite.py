"""The embedded default store: one SQLite file in WAL mode, fsync on commit.

The schema version is the file header's ``user_version`` (sqlite.org/pragma.html
#pragma_user_version); writes take the write lock at ``BEGIN IMMEDIATE``
(sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import sqlite3

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.store.database import Connection, Params


class SqliteDialect:
    placeholder = "?"
    name = "SQLite"

    def __init__(self, path: str) -> None:
        if path == ":memory:":
            raise ConfigError("use a file for SQLite (the collector opens it twice)")
        self.path = path

    def connect(self) -> Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite database {self.path}: {exc}") from exc
        return AutoCommitting(conn)

    def transient(self, exc: BaseException) -> bool:
        # locked, disk full, I/O error, a damaged file: anything but "this data is wrong"
        return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.ProgrammingError
        )

    def broken(self, conn: Connection) -> bool:
        return False  # a file does not go away under an open connection

    def begin(self, conn: Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def lock_schema(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE already excludes every other writer

    def schema_version(self, conn: Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def set_version(self, conn: Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def is_empty(self, conn: Connection) -> bool:
        row = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return row is None or int(row[0]) == 0


class AutoCommitting:
    """sqlite3 in autocommit mode with explicit BEGIN; commit/rollback only when in a
    transaction, so reads outside one need no bookkeeping."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = (), /) -> sqlite3.Cursor:
        return self._conn.execute(sql, tuple(params))

    def cursor(self) -> sqlite3.Cursor:
        return self._conn.cursor()

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
