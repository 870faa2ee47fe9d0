"""Only ``serve`` and ``fleetpulse-collector migrate`` change a schema: every other command,
run as a process on SQLite and on PostgreSQL, refuses a missing, foreign or older database
with one line and exit 1, and leaves it as it was."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from fleetpulse.collector.auth import digest
from fleetpulse.collector.store import migrations
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.store.sql import SqlStore
from tests.procs import cli

CURRENT = migrations.CURRENT
READS = [
    ["token", "list"],
    ["devices"],
    ["devices", "--coverage"],
    ["settings", "show"],
    ["report"],
]


def writes(tmp_path: Path) -> list[list[str]]:
    inventory = tmp_path / "inventory.csv"
    inventory.write_text("hostname,site\npc-1,north\n", encoding="utf-8")
    return [
        ["token", "create", "--site", "north"],
        ["token", "revoke", "t-1"],
        ["devices", "revoke", "dev-1"],
        ["settings", "set", "report_interval_seconds=300", "--site", "*"],
        ["inventory", "import", str(inventory)],
    ]


def at_version(url: str, version: int) -> None:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    migrations.migrate(store.db, version)
    store.close()


def version_of(url: str) -> int:
    store = open_store(url)
    try:
        return store.schema_version()
    finally:
        store.close()


def tables(url: str) -> set[str]:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not Path(path).exists():
            return set()
        with sqlite3.connect(path) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {str(r[0]) for r in rows}


def refused(args: list[str], url: str) -> str:
    done = cli("fleetpulse-collector", *args, "--db", url)
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, (args, done.stderr)
    return lines[0]


def test_an_older_schema_is_refused_by_every_command_until_migrate(
    db_url: str, tmp_path: Path
) -> None:
    at_version(db_url, 2)
    line = (
        f"fleetpulse-collector: error: database schema is version 2, this program needs"
        f" {CURRENT}: run fleetpulse-collector migrate"
    )
    for args in READS + writes(tmp_path):
        assert refused(args, db_url) == line, args
    assert version_of(db_url) == 2  # nothing migrated it silently
    assert "site_settings" not in tables(db_url)  # migration 3 was not applied

    done = cli("fleetpulse-collector", "migrate", "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"database schema migrated from version 2 to {CURRENT}\n"
    assert version_of(db_url) == CURRENT
    again = cli("fleetpulse-collector", "migrate", "--db", db_url)
    assert again.stdout == f"database schema is version {CURRENT}: nothing to do\n"

    made = cli("fleetpulse-collector", "token", "create", "--site", "north", "--db", db_url)
    assert made.returncode == 0, made.stderr
    listed = cli("fleetpulse-collector", "token", "list", "--db", db_url)
    assert listed.returncode == 0, listed.stderr
    assert " north " in listed.stdout


def test_no_command_but_migrate_creates_a_database(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite:///"):
        path = tmp_path / "typo.db"
        url = f"sqlite:///{path}"
        line = (
            f"fleetpulse-collector: error: no SQLite database at {path}"
            " (fleetpulse-collector migrate creates one)"
        )
    else:  # an empty PostgreSQL schema, as a new deployment has before its first serve
        url = db_url
        line = (
            "fleetpulse-collector: error: PostgreSQL database "
            f"{url} has no fleetpulse schema, this program needs version {CURRENT}:"
            " run fleetpulse-collector migrate"
        )
    for args in READS + writes(tmp_path):
        got = refused(args, url)
        if args == ["report"] and url.startswith("sqlite:///"):
            assert got == f"fleetpulse-collector: error: no SQLite database at {path}"
        else:
            assert got == line, args
    assert tables(url) == set()  # no file, no table: not even the version's own
    if url.startswith("sqlite:///"):
        assert not path.exists()
    done = cli("fleetpulse-collector", "migrate", "--db", url)
    assert done.stdout == f"database schema migrated from version 0 to {CURRENT}\n"
    assert {"tokens", "devices", "site_settings"} <= tables(url)


def test_a_foreign_database_is_named_as_such(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite:///"):
        path = db_url[len("sqlite:///") :]
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
        where = f"SQLite database {path}"
        garbage = tmp_path / "notes.db"
        garbage.write_text("not a database at all\n", encoding="utf-8")
        assert refused(["devices"], f"sqlite:///{garbage}") == (
            f"fleetpulse-collector: error: SQLite database {garbage} is not a fleetpulse"
            " database: file is not a database"
        )
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
        where = f"PostgreSQL database {db_url}"
    for args in (["token", "list"], ["token", "create", "--site", "north"]):
        assert refused(args, db_url) == (
            f"fleetpulse-collector: error: {where} is not a fleetpulse database (it has"
            " tables but no fleetpulse schema version)"
        )
    assert tables(db_url) == {"invoices"}


def test_a_store_opened_for_reading_cannot_write(db_url: str) -> None:
    at_version(db_url, CURRENT)
    store = open_store(db_url, Access.READ)
    try:
        assert store.tokens() == []
        with pytest.raises(Exception, match=re.compile("read-?only", re.IGNORECASE)):
            store.create_token("t-1", digest("fpt_x"), "north", 1.8e9, None, None)
    finally:
        store.close()
    writer = open_store(db_url, Access.WRITE)
    try:
        writer.create_token("t-1", digest("fpt_x"), "north", 1.8e9, None, None)
        assert [t.token_id for t in writer.tokens()] == ["t-1"]
    finally:
        writer.close()
