"""Sign-in contributors stored with their sign-in, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.contributors import ContributorRow
from fleetpulse.contract.records import (
    Contributor,
    DeviceFacts,
    SigninRecord,
    SigninState,
)

NOW = 1_800_000_000.0
DEVICE = "0d5a7e0e-7c52-4d0b-9b57-1c1f3b0e8a11"
FACTS = DeviceFacts("pc-0107", "windows", "10.0.22631", "1.0")
SLOW = (
    Contributor("profile", "temporary", 8.625),
    Contributor("gp_extension", "Drive Maps", 1648.123),
    Contributor("gp_script", "map_printers.cmd", 42.318),
    Contributor("startup_app", "teams.exe", 1.25),
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", NOW, None, None)
    s.enroll("th", DEVICE, "sh", "pc-0107", "windows", "10", "1.0", "hw", "m", NOW)
    yield s
    s.close()


def signin(
    session: str,
    started_at: float,
    contributors: tuple[Contributor, ...],
    total: float | None = 1800.0,
    first_login: bool | None = None,
) -> SigninRecord:
    return SigninRecord(
        session_id=session,
        boot_id="boot-1",
        user_hash="h",
        started_at=started_at,
        state=SigninState.COMPLETE,
        total_seconds=total,
        first_login=first_login,
        contributors=contributors,
    )


def ingest(store: Store, *records: tuple[int, SigninRecord]) -> list[int]:
    report = Report(DEVICE, FACTS, [Incoming(seq, NOW, r) for seq, r in records], NOW)
    (outcome,) = store.ingest([report], NOW)
    return [i.seq for i in outcome.accepted]


def test_contributors_round_trip_in_order(store: Store) -> None:
    assert ingest(store, (1, signin("s1", NOW - 7200, SLOW)), (2, signin("s2", NOW - 60, ()))) == [
        1,
        2,
    ]
    assert store.contributors_between(NOW - 86400, NOW) == [
        ContributorRow(DEVICE, 1, NOW - 7200, c.kind, c.name, c.seconds) for c in SLOW
    ]
    assert store.contributors_between(NOW - 3600, NOW) == []  # by the sign-in's start


def test_a_duplicate_sign_in_adds_no_rows(store: Store) -> None:
    ingest(store, (1, signin("s1", NOW - 7200, SLOW)))
    assert ingest(store, (1, signin("s1", NOW - 7200, SLOW))) == []  # same seq again
    # the same session under a new seq is the same sign-in: dropped, with its contributors
    assert ingest(store, (9, signin("s1", NOW - 7200, SLOW[:1]))) == []
    assert len(store.contributors_between(NOW - 86400, NOW)) == len(SLOW)


def test_top_contributors_seed_the_metric_labels(store: Store) -> None:
    ingest(store, (1, signin("s1", NOW - 7200, SLOW)), (2, signin("s2", NOW - 90 * 86400, SLOW)))
    top = store.top_contributors(NOW - 86400, 2)
    assert top == [("gp_extension", "Drive Maps"), ("gp_script", "map_printers.cmd")]
    assert store.top_contributors(NOW, 5) == []
