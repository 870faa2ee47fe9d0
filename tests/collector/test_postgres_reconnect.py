"""The PostgreSQL store survives its connections being killed (server restart, failover)."""

from __future__ import annotations

import psycopg
import pytest

from fleetpulse.collector.auth import digest
from fleetpulse.collector.errors import StoreUnavailable
from fleetpulse.collector.store.base import open_store
from tests.conftest import PG_URL


def test_store_reconnects_after_its_connections_are_terminated(pg_url: str) -> None:
    store = open_store(pg_url + "&application_name=fleetpulse-reconnect-test")
    store.migrate()
    store.create_token("t", digest("fpt_x"), "north", 1.8e9, None, None)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'fleetpulse-reconnect-test'"
        ).fetchone()
    assert killed is not None and killed[0] == 2  # the write and the read connection
    with pytest.raises(StoreUnavailable):  # a transient failure, the driver's error inside
        store.tokens()  # the first use finds the connection dead ...
    assert [t.token_id for t in store.tokens()] == ["t"]  # ... the next one reconnects
    with pytest.raises(StoreUnavailable):
        store.revoke_token("t", 1.8e9)
    assert store.revoke_token("t", 1.8e9)
    store.close()
