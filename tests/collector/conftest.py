"""Fixtures shared by the collector's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetpulse.collector.store.base import Store, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An empty, migrated store on each of SQLite and PostgreSQL (``db_url``); a test
    module that needs rows in it defines its own ``store``."""
    s = open_store(db_url)
    s.migrate()
    yield s
    s.close()
