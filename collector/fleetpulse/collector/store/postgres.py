"""The scale-out store: PostgreSQL (psycopg 3), shared by several collectors.

The schema version is the largest row of ``fleetpulse_schema``; migrations are serialised
across collectors by a transaction-level advisory lock (PostgreSQL manual, 9.27.10
"Advisory Lock Functions"). A connection is lost when psycopg says ``closed`` or
``broken`` (psycopg.Connection); ``OperationalError`` (server down, connection lost, lock
timeout) is transient (PEP 249's "errors related to the database's operation").
"""

from __future__ import annotations

import psycopg

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.database import Access, Connection

_MIGRATION_LOCK = 0x666C7075  # "flpu": serialises migrations across collectors


class PostgresDialect:
    """PostgreSQL at ``url``. With Access.READ every transaction of the session is READ
    ONLY (``SET SESSION CHARACTERISTICS``, PostgreSQL manual "SET TRANSACTION"): the
    server refuses any write, DDL included."""

    placeholder = "%s"
    arrays = True

    def __init__(self, url: str, access: Access = Access.CREATE) -> None:
        self.url = url
        self.access = access
        self.where = f"PostgreSQL database {redact(url)}"

    def connect(self) -> Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=False, connect_timeout=10)
            if self.access is Access.READ:
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                conn.commit()
            return conn
        except psycopg.Error as exc:
            detail = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"cannot connect to PostgreSQL at {redact(self.url)}: {detail}"
            ) from None

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError)  # down, lost, lock timeout

    def broken(self, conn: Connection) -> bool:
        return isinstance(conn, psycopg.Connection) and bool(conn.closed or conn.broken)

    def begin(self, conn: Connection) -> None:
        pass  # psycopg opens a transaction on the first statement

    def lock_schema(self, conn: Connection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS fleetpulse_schema (version INTEGER NOT NULL)")

    def schema_version(self, conn: Connection) -> int:
        row = conn.execute("SELECT to_regclass('fleetpulse_schema') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        row = conn.execute("SELECT MAX(version) FROM fleetpulse_schema").fetchone()
        return int(row[0] or 0) if row else 0

    def set_version(self, conn: Connection, version: int) -> None:
        conn.execute("INSERT INTO fleetpulse_schema (version) VALUES (%s)", (version,))

    def is_empty(self, conn: Connection) -> bool:
        row = conn.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
        return row is None or int(row[0]) == 0
