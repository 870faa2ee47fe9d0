"""Bringing a database's schema up to ``schema.MIGRATIONS``: each migration once, in order,
in one transaction with its version mark, serialised across collectors; and checking,
without writing, that a database is at the version this program needs.

Only ``serve`` and ``fleetpulse-collector migrate`` change a schema; every other command
opens the database with ``require_current`` and refuses an older one with one line.
"""

from __future__ import annotations

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.store.database import Connection, Database
from fleetpulse.collector.store.schema import MIGRATIONS

#: The schema version this program writes and reads.
CURRENT = len(MIGRATIONS)


def migrate(db: Database, target: int = CURRENT) -> int:
    """Applies the migrations the database lacks up to ``target`` (tests build older
    databases with a smaller one); returns ``target``. Every statement is DDL: only
    ``serve`` and ``migrate`` call this."""
    with db.write() as conn:
        db.dialect.lock_schema(conn)
        version = db.dialect.schema_version(conn)
        for number, script in enumerate(MIGRATIONS[version:target], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            db.dialect.set_version(conn, number)
    return target


def version(db: Database) -> int:
    """The database's schema version, 0 if it has none; no writes."""
    return db.inspect(db.dialect.schema_version)


def require_current(db: Database) -> None:
    """Raises ConfigError, one line, unless the database's schema is at least ``CURRENT``
    (a newer one is left to the newer program's compatibility)."""

    def look(conn: Connection) -> tuple[int, bool]:
        return db.dialect.schema_version(conn), db.dialect.is_empty(conn)

    found, empty = db.inspect(look)
    if found >= CURRENT:
        return
    if found == 0 and not empty:
        raise ConfigError(
            f"{db.dialect.where} is not a fleetpulse database (it has tables but no"
            " fleetpulse schema version)"
        )
    if found == 0:
        raise ConfigError(
            f"{db.dialect.where} has no fleetpulse schema, this program needs version"
            f" {CURRENT}: run fleetpulse-collector migrate"
        )
    raise ConfigError(
        f"database schema is version {found}, this program needs {CURRENT}:"
        " run fleetpulse-collector migrate"
    )
