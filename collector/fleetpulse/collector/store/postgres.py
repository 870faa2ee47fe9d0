"""The scale-out store: PostgreSQL (psycopg 3), shared by several collectors."""

from __future__ import annotations

from typing import Any

import psycopg

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.sql import SqlStore

_MIGRATION_LOCK = 0x666C7075  # "flpu": serialises migrations across collectors


class PostgresStore(SqlStore):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__()

    def _connect(self) -> Any:
        try:
            return psycopg.connect(self.url, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            detail = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"cannot connect to PostgreSQL at {redact(self.url)}: {detail}"
            ) from None

    def _transient(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError)  # down, lost, lock timeout

    def _broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def _begin(self, conn: Any) -> None:
        pass  # psycopg opens a transaction on the first statement

    def _schema_version(self, conn: Any) -> int:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS fleetpulse_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM fleetpulse_schema").fetchone()
        return int(row[0] or 0)

    def _set_version(self, conn: Any, version: int) -> None:
        conn.execute("INSERT INTO fleetpulse_schema (version) VALUES (%s)", (version,))
