"""PostgreSQL array statements (store/array_writes.py): one statement per call whatever the
number of rows, its text fixed by table and columns (so psycopg prepares it once), with
NULLs and ints in float columns stored as given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fleetpulse.collector.store.array_writes import ArrayWrites
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.database import Params
from fleetpulse.collector.store.ingest import APP_USAGE


class Recording:
    """A psycopg connection that notes each statement it executes."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[str] = []

    def execute(self, sql: str, params: Params = ()) -> Any:
        self.statements.append(sql)
        return self._conn.execute(sql, params)

    def cursor(self) -> Any:
        raise AssertionError("array writes run no executemany")


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    store.migrate()
    yield store
    store.close()


def _app(seq: int, foreground: float | None, running: float) -> Params:
    return ("dev-1", seq, 100.0, 60, "a.exe", 1, running, foreground, 1, None, None)


def test_one_statement_per_call_with_the_same_text_for_any_row_count(pg_store: Store) -> None:
    writes = ArrayWrites()
    with pg_store.db.write() as conn:  # type: ignore[attr-defined]
        rec = Recording(conn)
        one = writes.insert(rec, "app_usage", APP_USAGE, [_app(1, None, 60)], new=True)()  # type: ignore[arg-type]
        many = [_app(seq, 20.5 if seq % 2 else None, 60.25) for seq in range(1, 41)]
        got = writes.insert(rec, "app_usage", APP_USAGE, many, new=True)()  # type: ignore[arg-type]
    assert one == {("dev-1", 1)}
    assert got == {("dev-1", seq) for seq in range(2, 41)}  # seq 1 was held already
    assert len(rec.statements) == 2 and rec.statements[0] == rec.statements[1]
    rows = pg_store.db.read(  # type: ignore[attr-defined]
        "SELECT seq, interval_seconds, running_seconds, foreground_seconds, peak_rss_bytes"
        " FROM app_usage WHERE seq IN (1, 2, 3) ORDER BY seq"
    )
    assert [tuple(r) for r in rows] == [
        (1, 60.0, 60.0, None, None),
        (2, 60.0, 60.25, None, None),
        (3, 60.0, 60.25, 20.5, None),
    ]


def test_update_only_if_newer_and_delete_by_key(pg_store: Store) -> None:
    writes = ArrayWrites()
    db = pg_store.db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(
            "INSERT INTO devices (device_id, secret_hash, site, hostname, os, os_version,"
            " agent_version, hardware_id, machine_id, enrolled_at, last_boot_at)"
            " SELECT d, '', 's', 'h', 'linux', '', '', '', '', 0, b"
            " FROM unnest(%s::text[], %s::float8[]) AS u(d, b)",
            (["a", "b", "c"], [10.0, 30.0, None]),
        )
        rows = [(20, 5.0, "a"), (20, 5.0, "b"), (20, 5.0, "c")]
        writes.update(
            conn,
            "devices",
            ("last_boot_at", "last_boot_seconds"),
            "device_id",
            rows,
            newer="last_boot_at",
        )
    got = db.read("SELECT device_id, last_boot_at, last_boot_seconds FROM devices ORDER BY 1")
    assert [tuple(r) for r in got] == [("a", 20.0, 5.0), ("b", 30.0, None), ("c", 20.0, 5.0)]
    with db.write() as conn:
        conn.execute(
            "INSERT INTO signins_in_progress SELECT d, 'b', s, 0, 0, 0, 1"
            " FROM unnest(%s::text[], %s::text[]) AS u(d, s)",
            (["a", "a", "b"], ["s1", "s2", "s1"]),
        )
        writes.delete(
            conn,
            "signins_in_progress",
            ("device_id", "boot_id", "session_id"),
            [("a", "b", "s2"), ("b", "b", "s1"), ("c", "b", "s1")],
        )
    left = db.read("SELECT device_id, session_id FROM signins_in_progress")
    assert [tuple(r) for r in left] == [("a", "s1")]
