"""The two ways of writing a round (store/row_writes.py on SQLite, store/array_writes.py on
PostgreSQL) give the same outcomes and the same rows for the same random groups: duplicate
seqs and natural keys, several records of one key in one report, NULLs, ints in float
columns, drop totals going up and down."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    Contributor,
    EndReason,
    HealthRecord,
    Phase,
    Record,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)
from tests.collector.test_store import FACTS, NOW, enrolled

DEVICES = ("d0", "d1", "d2", "d3")
TABLES = {
    "boots": "device_id, seq",
    "signins": "device_id, seq",
    "signins_in_progress": "device_id, boot_id, session_id",
    "app_usage": "device_id, seq",
    "device_health": "device_id",
    "signin_ends": "device_id, seq",
    "signin_contributors": "device_id, seq, ordinal",
}
LATEST = "device_id, last_signin_at, last_signin_seconds, last_boot_at, last_boot_seconds"


def _record(rnd: random.Random) -> Record:
    kind = rnd.choice(["boot", "signin", "live", "app", "health", "end"])
    session = f"s{rnd.randint(1, 3)}"
    if kind == "boot":
        return BootRecord(
            f"b{rnd.randint(1, 3)}", NOW - rnd.randint(1, 900), rnd.choice([None, 41])
        )
    if kind == "signin":
        return SigninRecord(
            session,
            "b1",
            "h",
            NOW - rnd.randint(100, 500),
            SigninState.COMPLETE,
            rnd.choice([None, 30.0, 31]),
            phases=(Phase("core", 20.0),),
            first_login=rnd.choice([None, True, False]),
            contributors=tuple(
                Contributor("app", f"x{i}.exe", 1.0) for i in range(rnd.randint(0, 2))
            ),
        )
    if kind == "live":
        return SigninRecord(
            session, "b1", "h", NOW - 100, SigninState.IN_PROGRESS, None, rnd.randint(1, 99)
        )
    if kind == "app":
        return AppUsageRecord(
            NOW - 90, 60, "a.exe", 1, rnd.choice([60, 60.5]), rnd.choice([None, 20.0]), 1
        )
    if kind == "end":
        return SigninEndRecord(session, "b1", NOW - 10, EndReason.SIGN_OUT)
    return HealthRecord(
        {"app_usage": rnd.randint(0, 9)}, rnd.randint(0, 3), rnd.randint(0, 99), None, 0
    )


def _run(store: Store, seed: int) -> list[Any]:
    """Outcomes of 12 random groups, then every ingest table's rows, as plain values."""
    rnd = random.Random(seed)
    for device in DEVICES:
        enrolled(store, device)
    seen: list[Any] = []
    for n in range(12):
        group = [
            Report(
                rnd.choice(DEVICES),
                FACTS,
                [Incoming(rnd.randint(1, 25), NOW, _record(rnd)) for _ in range(rnd.randint(1, 6))],
                NOW,
            )
            for _ in range(rnd.randint(1, 7))
        ]
        group.sort(key=lambda r: r.device_id)
        for out in store.ingest(group, NOW + n):
            accepted = [i.seq for i in out.accepted]
            seen.append((accepted, sorted(out.duplicates.items()), sorted(out.dropped.items())))
    db = store.db  # type: ignore[attr-defined]
    for table, order in {**TABLES, "devices": "device_id"}.items():
        cols = LATEST if table == "devices" else "*"
        rows = db.read(f"SELECT {cols} FROM {table} ORDER BY {order}")
        seen.append((table, [tuple(_plain(v) for v in row) for row in rows]))
    return seen


def _plain(value: object) -> object:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


@pytest.mark.parametrize("seed", range(8))
def test_both_stores_store_random_groups_alike(seed: int, pg_url: str, tmp_path: Path) -> None:
    results = []
    for url in (f"sqlite:///{tmp_path / 's.db'}", pg_url):
        store = open_store(url)
        store.migrate()
        try:
            results.append(_run(store, seed))
        finally:
            store.close()
    sqlite, postgres = results
    assert sum(len(accepted) for accepted, *_ in sqlite[:-8]) > 0
    assert sqlite == postgres
