"""Sign-ins in progress whose agent stopped reporting expire from the fleet state after
three report intervals without news, are counted once, and leave the in-progress gauges
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fleetpulse.collector.metrics import FleetStateCollector
from fleetpulse.collector.model import FleetState, Incoming, InProgressExpiry
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import SigninRecord, SigninState
from tests.collector.test_store import NOW, enrolled, report

DEFAULT = InProgressExpiry()  # agents' default interval: 60 s, so 180 s without news


def live(seq: int, session: str, elapsed: float) -> Incoming:
    return Incoming(
        seq,
        NOW,
        SigninRecord(session, "boot-1", "h", NOW - elapsed, SigninState.IN_PROGRESS, None, elapsed),
    )


def test_expiry_is_three_report_intervals() -> None:
    assert DEFAULT.interval("any") == 60.0 and DEFAULT.after("any") == 180.0
    per_site = InProgressExpiry(60.0, {"slow": 600.0})
    assert per_site.after("slow") == 1800.0 and per_site.after("fast") == 180.0
    assert per_site.longest() == 1800.0


def test_agent_died_eight_minutes_ago_is_no_sign_in_in_progress(store: Store) -> None:
    enrolled(store)
    # the last news: 300 s into the sign-in; then the agent died
    store.ingest([report("dev-1", live(1, "s1", 300.0))], NOW)
    state = store.fleet_state(NOW + 480, expiry=DEFAULT)
    assert state.in_progress == {"north": 0}
    assert state.longest_in_progress == {"north": 0.0}
    # so FleetpulseLoginInProgressTooLong (longest > 600) has nothing to fire on


def test_in_progress_until_expiry_then_counted_once(store: Store) -> None:
    enrolled(store)
    store.ingest([report("dev-1", live(1, "s1", 300.0))], NOW)
    state = store.fleet_state(NOW + 30, expiry=DEFAULT, expired_since=NOW)
    assert state.in_progress == {"north": 1}
    assert state.longest_in_progress["north"] == pytest.approx(330.0)
    assert state.in_progress_expired == {}
    # one missed report: still in progress, but extrapolated by one interval only
    state = store.fleet_state(NOW + 179, expiry=DEFAULT, expired_since=NOW + 30)
    assert state.in_progress == {"north": 1}
    assert state.longest_in_progress["north"] == pytest.approx(360.0)
    # three intervals without news: expired, counted in the refresh that sees it go
    state = store.fleet_state(NOW + 181, expiry=DEFAULT, expired_since=NOW + 179)
    assert state.in_progress == {"north": 0}
    assert state.longest_in_progress == {"north": 0.0}
    assert state.in_progress_expired == {"north": 1}
    # ... and only in that one
    later = store.fleet_state(NOW + 3600, expiry=DEFAULT, expired_since=NOW + 181)
    assert later.in_progress_expired == {}
    # the first snapshot of a collector (no previous one) counts nothing
    assert store.fleet_state(NOW + 181, expiry=DEFAULT).in_progress_expired == {}


def test_a_reporting_agent_keeps_its_sign_in_in_progress(store: Store) -> None:
    enrolled(store)
    store.ingest([report("dev-1", live(1, "s1", 300.0))], NOW)
    store.ingest([report("dev-1", live(2, "s1", 900.0))], NOW + 600)  # news 10 min later
    state = store.fleet_state(NOW + 650, expiry=DEFAULT, expired_since=NOW + 640)
    assert state.in_progress == {"north": 1}
    assert state.longest_in_progress["north"] == pytest.approx(950.0)
    assert state.in_progress_expired == {}


def test_a_site_with_a_longer_central_interval_waits_longer(store: Store) -> None:
    enrolled(store, "a", "north")
    enrolled(store, "b", "south")
    store.ingest([report("a", live(1, "s1", 100.0)), report("b", live(1, "s1", 100.0))], NOW)
    expiry = InProgressExpiry(60.0, {"south": 600.0})
    state = store.fleet_state(NOW + 1000, expiry=expiry, expired_since=NOW + 900)
    assert state.in_progress == {"north": 0, "south": 1}
    assert state.longest_in_progress["south"] == pytest.approx(700.0)  # 100 + one interval
    state = store.fleet_state(NOW + 1801, expiry=expiry, expired_since=NOW + 1000)
    assert state.in_progress == {"north": 0, "south": 0}
    assert state.in_progress_expired == {"south": 1}


def test_expired_counter_on_metrics() -> None:
    fleet = FleetStateCollector()
    registry = CollectorRegistry()
    registry.register(fleet)
    fleet.update(FleetState(in_progress={"north": 0, "south": 1}))
    fleet.update(FleetState(in_progress={"north": 0, "south": 0}, in_progress_expired={"south": 1}))
    fleet.update(FleetState(in_progress={"north": 0, "south": 0}, in_progress_expired={"south": 2}))
    text = generate_latest(registry).decode()
    assert 'fleetpulse_logins_in_progress_expired_total{site="south"} 3.0' in text
    assert 'fleetpulse_logins_in_progress_expired_total{site="north"} 0.0' in text
