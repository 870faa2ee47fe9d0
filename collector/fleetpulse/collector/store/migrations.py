"""Bringing a database's schema up to ``schema.MIGRATIONS``: each migration once, in order,
in one transaction with its version mark, serialised across collectors."""

from __future__ import annotations

from fleetpulse.collector.store.database import Database
from fleetpulse.collector.store.schema import MIGRATIONS

#: The schema version this program writes and reads.
CURRENT = len(MIGRATIONS)


def migrate(db: Database) -> int:
    """Applies the migrations the database lacks; returns the version it is now at
    (``CURRENT``). Every statement is DDL: only ``serve`` and ``migrate`` call this."""
    with db.write() as conn:
        db.dialect.lock_schema(conn)
        version = db.dialect.schema_version(conn)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            db.dialect.set_version(conn, number)
    return CURRENT
