"""The operator's commands run on a database made by ``migrate``, as the docs say: no other
command creates one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.procs import cli


def migrated(db: str) -> str:
    done = cli("fleetpulse-collector", "migrate", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def db_url(db_url: str) -> str:
    """The store of ``tests/conftest.py``'s ``db_url`` (SQLite, then PostgreSQL), migrated."""
    return migrated(db_url)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    """A migrated SQLite database in ``tmp_path``."""
    return migrated(f"sqlite:///{tmp_path / 'c.db'}")
