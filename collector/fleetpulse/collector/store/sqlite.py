"""The embedded default store: one SQLite file in WAL mode, fsync on commit.

The schema version is the file header's ``user_version`` (sqlite.org/pragma.html
#pragma_user_version); writes take the write lock at ``BEGIN IMMEDIATE``
(sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.store.database import Access, Connection, Params


class SqliteDialect:
    """SQLite at ``path``. With Access.CREATE the file is created if missing and put in
    WAL mode (persistent: sqlite.org/wal.html); otherwise it must exist, and is opened
    through a URI with ``mode=rw`` or ``mode=ro`` (sqlite.org/uri.html), so neither a
    typo in the path nor a read creates a file."""

    placeholder = "?"
    arrays = False

    def __init__(self, path: str, access: Access = Access.CREATE) -> None:
        if path == ":memory:":
            raise ConfigError("use a file for SQLite (the collector opens it twice)")
        self.path = path
        self.access = access
        self.where = f"SQLite database {path}"

    def connect(self) -> Connection:
        if self.access is not Access.CREATE and not Path(self.path).is_file():
            raise ConfigError(
                f"no SQLite database at {self.path} (fleetpulse-collector migrate creates one)"
            )
        try:
            if self.access is Access.CREATE:
                conn = self._open(self.path, uri=False)
                conn.execute("PRAGMA journal_mode=WAL")
            else:
                mode = "ro" if self.access is Access.READ else "rw"
                conn = self._open(f"file:{quote(self.path)}?mode={mode}", uri=True)
                self._check_header(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite database {self.path}: {exc}") from exc
        return AutoCommitting(conn)

    def _check_header(self, conn: sqlite3.Connection) -> None:
        """Reads the file header: ConfigError if the file is not an SQLite database."""
        try:
            conn.execute("PRAGMA user_version")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(f"{self.where} is not a fleetpulse database: {exc}") from None

    @staticmethod
    def _open(target: str, uri: bool) -> sqlite3.Connection:
        return sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, timeout=30.0, uri=uri
        )

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
