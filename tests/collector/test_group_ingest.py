"""A group of reports is stored with one statement per kind, yet with exactly the outcome of
storing its reports one by one (both stores): a device's second report in the group sees
its first, and devices do not see each other."""

from __future__ import annotations

from fleetpulse.collector.model import Incoming
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import AppUsageRecord, BootRecord, HealthRecord, SigninState
from tests.collector.test_store import NOW, enrolled, report, signin


def _app(seq: int) -> Incoming:
    return Incoming(seq, NOW, AppUsageRecord(NOW - 60, 60.0, "a.exe", 1, 60.0, 20.0, 1.0))


def test_a_group_is_stored_as_its_reports_one_by_one(store: Store) -> None:
    enrolled(store, "dev-1")
    enrolled(store, "dev-2")
    first = report(
        "dev-1",
        signin(1, "s1", total=None, state=SigninState.IN_PROGRESS, elapsed=5.0),
        signin(2, "s2"),
        _app(3),
    )
    other = report(
        "dev-2",
        signin(1, "s1"),
        Incoming(2, NOW, BootRecord("b1", NOW - 300, 40.0)),
    )
    second = report(
        "dev-1",
        signin(4, "s1"),  # completes the sign-in the first report had in progress
        signin(5, "s2"),  # the same sign-in again under a new seq: natural-key duplicate
        _app(3),  # the same seq again: duplicate
    )
    outcomes = store.ingest([first, other, second], NOW)
    assert [[i.seq for i in o.accepted] for o in outcomes] == [[1, 2, 3], [1, 2], [4]]
    assert [o.duplicates for o in outcomes] == [{}, {}, {"signin": 1, "app_usage": 1}]
    state = store.fleet_state(NOW)
    assert state.in_progress == {"north": 0}  # the completion removed it
    assert len(store.signins_between(0, NOW + 1)) == 3


def test_in_progress_updates_in_one_group_keep_the_latest(store: Store) -> None:
    enrolled(store, "dev-1")
    enrolled(store, "dev-2")

    def live(seq: int, session: str, elapsed: float) -> Incoming:
        return signin(seq, session, total=None, state=SigninState.IN_PROGRESS, elapsed=elapsed)

    outcomes = store.ingest(
        [
            report("dev-1", live(2, "s1", 20.0), live(1, "s1", 10.0)),  # an older update
            report("dev-2", signin(1, "s9"), live(2, "s9", 5.0)),  # already complete
        ],
        NOW,
    )
    assert [[i.seq for i in o.accepted] for o in outcomes] == [[2], [1]]
    assert [o.duplicates for o in outcomes] == [{"signin": 1}, {"signin": 1}]
    state = store.fleet_state(NOW)
    assert state.in_progress == {"north": 1}
    assert state.longest_in_progress["north"] >= 20.0


def test_updates_of_one_signin_in_one_report_count_as_one_by_one(store: Store) -> None:
    enrolled(store, "dev-1")
    enrolled(store, "dev-2")

    def live(seq: int, elapsed: float) -> Incoming:
        return signin(seq, "s1", total=None, state=SigninState.IN_PROGRESS, elapsed=elapsed)

    outcomes = store.ingest(
        [
            report("dev-1", live(3, 30.0), live(1, 10.0), live(4, 40.0)),
            report("dev-2", live(1, 5.0), live(2, 6.0)),
        ],
        NOW,
    )
    assert [[i.seq for i in o.accepted] for o in outcomes] == [[3, 4], [1, 2]]
    assert [o.duplicates for o in outcomes] == [{"signin": 1}, {}]
    rows = store.db.read(
        "SELECT device_id, elapsed_seconds, last_seq FROM signins_in_progress ORDER BY device_id"
    )
    assert [tuple(r) for r in rows] == [("dev-1", 40.0, 4), ("dev-2", 6.0, 2)]
    [again] = store.ingest([report("dev-1", live(2, 20.0), live(5, 50.0))], NOW)
    assert [i.seq for i in again.accepted] == [5]
    assert again.duplicates == {"signin": 1}


def test_health_records_of_one_report_add_drops_as_one_by_one(store: Store) -> None:
    enrolled(store, "dev-1")
    enrolled(store, "dev-2")

    def health(seq: int, dropped: int) -> Incoming:
        return Incoming(seq, NOW, HealthRecord({"app_usage": dropped}, spool_bytes=seq))

    [first] = store.ingest([report("dev-1", health(1, 3))], NOW)
    assert first.dropped == {"app_usage": 3}
    outcomes = store.ingest(
        [
            report("dev-1", health(3, 7), health(2, 5), health(4, 10)),
            report("dev-2", health(2, 2), health(1, 2)),
        ],
        NOW,
    )
    assert [[i.seq for i in o.accepted] for o in outcomes] == [[3, 4], [2]]
    assert [o.duplicates for o in outcomes] == [{"health": 1}, {"health": 1}]
    assert [o.dropped for o in outcomes] == [{"app_usage": 7}, {"app_usage": 2}]
    rows = store.db.read(
        "SELECT device_id, last_seq, dropped, spool_bytes FROM device_health ORDER BY device_id"
    )
    assert [tuple(r) for r in rows] == [
        ("dev-1", 4, '{"app_usage": 10}', 4),
        ("dev-2", 2, '{"app_usage": 2}', 2),
    ]
