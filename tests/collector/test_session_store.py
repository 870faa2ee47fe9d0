"""Session ends in the store, on SQLite and on PostgreSQL: stored once, joined to their
sign-in for the session length, kept without one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import (
    DeviceFacts,
    EndReason,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)

NOW = 1_800_000_000.0
DEVICE = "0d5a7e0e-7c52-4d0b-9b57-1c1f3b0e8a11"
OTHER = "5b0c1f0e-2d7a-4c4b-8a44-0e6f3c2b9d01"
FACTS = DeviceFacts("pc-0107", "windows", "10.0.22631", "1.0")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", NOW - 86400, None, None)
    s.enroll("th", DEVICE, "sh", "pc-0107", "windows", "10", "1.0", "hw", "m", NOW - 86400)
    s.enroll("th", OTHER, "sh2", "pc-0108", "windows", "10", "1.0", "hw2", "m2", NOW - 86400)
    yield s
    s.close()


def signin(session: str, started_at: float) -> SigninRecord:
    return SigninRecord(session, "boot-1", "h", started_at, SigninState.COMPLETE, 30.0)


def end(session: str, ended_at: float, reason: EndReason = EndReason.SIGN_OUT) -> SigninEndRecord:
    return SigninEndRecord(session, "boot-1", ended_at, reason)


def ingest(
    store: Store, *records: tuple[int, SigninRecord | SigninEndRecord], device: str = DEVICE
) -> tuple[list[int], dict[str, int]]:
    report = Report(device, FACTS, [Incoming(seq, NOW, r) for seq, r in records], NOW)
    (outcome,) = store.ingest([report], NOW)
    return [i.seq for i in outcome.accepted], outcome.duplicates


def test_a_session_length_is_its_end_minus_its_sign_in_start(store: Store) -> None:
    accepted, _ = ingest(
        store,
        (1, signin("s1", NOW - 7200.125)),
        (2, end("s1", NOW - 3600.0, EndReason.DISCONNECT)),
        (3, signin("s2", NOW - 600.0)),  # still signed in
    )
    assert accepted == [1, 2, 3]
    rows = store.sessions_between(NOW - 86400, NOW)
    assert [(r.device_id, r.hostname, r.started_at, r.ended_at, r.seconds) for r in rows] == [
        (DEVICE, "pc-0107", NOW - 7200.125, NOW - 3600.0, 3600.125),
        (DEVICE, "pc-0107", NOW - 600.0, None, None),
    ]
    assert store.devices_sending_ends() == {DEVICE}
    assert store.unmatched_ends(NOW - 86400, NOW) == 0


def test_an_end_is_stored_once_by_seq_and_by_session(store: Store) -> None:
    ingest(store, (1, signin("s1", NOW - 7200)), (2, end("s1", NOW - 3600)))
    assert ingest(store, (2, end("s1", NOW - 3600))) == ([], {"signin_end": 1})  # resent
    # a second end of the same session under a new seq: the first one stands
    assert ingest(store, (5, end("s1", NOW - 60))) == ([], {"signin_end": 1})
    [row] = store.sessions_between(NOW - 86400, NOW)
    assert row.ended_at == NOW - 3600
    # the same session id on another device is another session
    assert ingest(store, (2, end("s1", NOW - 60)), device=OTHER) == ([2], {})


def test_an_end_before_its_sign_in_arrives_is_kept_and_joined_later(store: Store) -> None:
    assert ingest(store, (4, end("s9", NOW - 100))) == ([4], {})
    assert store.unmatched_ends(NOW - 86400, NOW) == 1  # no length yet
    assert store.unmatched_ends(NOW - 50, NOW) == 0  # by ended_at
    ingest(store, (3, signin("s9", NOW - 400)))  # the sign-in comes late (an older seq)
    [row] = store.sessions_between(NOW - 86400, NOW)
    assert row.seconds == 300.0
    assert store.unmatched_ends(NOW - 86400, NOW) == 0


def test_an_end_before_its_start_has_no_length(store: Store) -> None:
    ingest(store, (1, signin("s1", NOW - 100)), (2, end("s1", NOW - 200)))
    [row] = store.sessions_between(NOW - 86400, NOW)
    assert (row.ended_at, row.seconds) == (NOW - 200, None)


def test_revoked_devices_have_no_sessions(store: Store) -> None:
    ingest(store, (1, signin("s1", NOW - 100)), (2, end("s1", NOW - 50)))
    assert store.revoke_device(DEVICE, NOW)
    assert store.sessions_between(NOW - 86400, NOW) == []
