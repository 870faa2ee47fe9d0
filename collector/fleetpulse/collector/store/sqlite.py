"""The embedded default store: one SQLite file in WAL mode, fsync on commit."""

from __future__ import annotations

import sqlite3
from typing import Any

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.store.sql import SqlStore


class SqliteStore(SqlStore):
    placeholder = "?"

    def __init__(self, path: str) -> None:
        self.path = path
        if path == ":memory:":
            raise ConfigError("use a file for SQLite (the collector opens it twice)")
        super().__init__()

    def _connect(self) -> Any:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite database {self.path}: {exc}") from exc
        return _AutoCommitting(conn)

    def _transient(self, exc: BaseException) -> bool:
        # locked, disk full, I/O error, a damaged file: anything but "this data is wrong"
        return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.ProgrammingError
        )

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _schema_version(self, conn: Any) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _set_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")


class _AutoCommitting:
    """sqlite3 in autocommit mode with explicit BEGIN; commit/rollback only when in a
    transaction, so reads outside one need no bookkeeping."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

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
