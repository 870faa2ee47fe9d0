"""The fleet-state additions on a real store (SQLite and PostgreSQL): who is waiting (named,
bounded), 30-minute sign-ins that ended in the last hour by event time, and the window
figures, equal to the SLA report's for the same period."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fleetpulse.collector.figures import window_figures
from fleetpulse.collector.metrics import FleetStateCollector
from fleetpulse.collector.model import (
    IN_PROGRESS_NAMED_MAX,
    Incoming,
    InProgressExpiry,
)
from fleetpulse.collector.report.data import build_report
from fleetpulse.collector.signin_windows import WINDOWS
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import SigninRecord, SigninState
from tests.collector.test_store import NOW, enrolled, report

DAY = 86400.0


def done(seq: int, started: float, total: float | None, first: bool | None = False) -> Incoming:
    return Incoming(
        seq,
        NOW,
        SigninRecord(f"s{seq}", "b", "h", started, SigninState.COMPLETE, total, 0.0, (), first),
    )


def test_sign_ins_over_ten_minutes_are_named_longest_first_and_bounded(store: Store) -> None:
    n = IN_PROGRESS_NAMED_MAX + 5
    for i in range(n):
        enrolled(store, f"dev-{i:02d}")
        elapsed = 610.0 + 10 * i
        record = SigninRecord("s", "b", "h", NOW - elapsed, SigninState.IN_PROGRESS, None, elapsed)
        store.ingest([report(f"dev-{i:02d}", Incoming(1, NOW, record))], NOW)
    enrolled(store, "dev-short")
    short = SigninRecord("s", "b", "h", NOW - 500, SigninState.IN_PROGRESS, None, 500.0)
    store.ingest([report("dev-short", Incoming(1, NOW, short))], NOW)

    state = store.fleet_state(NOW, expiry=InProgressExpiry())
    assert state.in_progress == {"north": n + 1}
    named = state.over_threshold
    assert [w.device_id for w in named] == [
        f"dev-{i:02d}" for i in range(n - 1, n - 1 - IN_PROGRESS_NAMED_MAX, -1)
    ]
    assert named[0].seconds == pytest.approx(state.longest_in_progress["north"])
    assert {(w.site, w.hostname) for w in named} == {("north", "host-1")}

    registry = CollectorRegistry()
    fleet = FleetStateCollector()
    registry.register(fleet)
    fleet.update(state)
    text = generate_latest(registry).decode()
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("fleetpulse_login_in_progress_over_threshold{")
    ]
    assert len(lines) == IN_PROGRESS_NAMED_MAX
    assert lines[0] == (
        "fleetpulse_login_in_progress_over_threshold"
        f'{{device_id="dev-{n - 1:02d}",hostname="host-1",site="north"}} 850.0'
    )
    assert not any("dev-short" in line for line in lines)


def test_thirty_minute_sign_ins_count_when_they_ended_not_when_they_arrived(
    store: Store,
) -> None:
    enrolled(store)
    store.ingest(
        [
            report(
                "dev-1",
                done(1, NOW - 2400, 1900.0),  # ended 500 s ago
                done(2, NOW - 3 * DAY, 2000.0),  # a backlog: ended days ago, arrives now
                done(3, NOW - 9000, 5000.0),  # started 2.5 h ago, ended 4000 s ago
                done(4, NOW - 1000, 100.0),  # recent, short
            )
        ],
        NOW,
    )
    state = store.fleet_state(NOW)
    assert state.long_ended_last_hour == {("north", "windows"): 1}
    # an hour on, it has left the window; the series stays, at zero
    assert store.fleet_state(NOW + 3600).long_ended_last_hour == {("north", "windows"): 0}


def test_window_figures_equal_the_reports(store: Store) -> None:
    enrolled(store, "dev-1", "north")
    enrolled(store, "dev-2", "south")
    enrolled(store, "dev-3", "idle")
    store.ingest(
        [
            report(
                "dev-1",
                done(1, NOW - 0.5 * DAY, 30.0),
                done(2, NOW - 2 * DAY, 1800.0),
                done(3, NOW - 3 * DAY, 1900.0, first=True),  # flagged: out
                done(4, NOW - 4 * DAY, None),  # unknown: counted, in no share
                done(5, NOW - 10 * DAY, 121.0),
                done(6, NOW - 27.9 * DAY, 119.0),
                done(7, NOW - 29 * DAY, 5.0),  # outside every window
            ),
            report("dev-2", done(1, NOW - 6 * DAY, 120.0), done(2, NOW - 6.5 * DAY, 47.5)),
        ],
        NOW,
    )
    until = NOW
    got = window_figures(store.figure_rows(until - 28 * DAY, until), until, {"idle"})
    for name, seconds in WINDOWS.items():
        r = build_report(store, until, seconds)
        f = got.fleet[name]
        assert (f.signins, f.known, f.within_slo, f.long) == (
            r.fleet.signins,
            r.fleet.signins - r.fleet.unknown,
            r.fleet.within_slo,
            r.fleet.long,
        ), name
        assert f.percentiles[95] == r.fleet.percentiles[95]
        assert f.percentiles[50] == r.fleet.percentiles[50]
        for s in r.sites:
            mine = got.sites[(name, s.site)]
            assert (mine.signins, mine.long, mine.within_slo) == (
                s.durations.signins,
                s.durations.long,
                s.durations.within_slo,
            ), (name, s.site)
            assert mine.percentiles[95] == s.durations.percentiles[95]
    # worked by hand: 7 days hold 30, 1800, unknown (north) and 120, 47.5 (south)
    seven = got.fleet["7d"]
    assert (seven.signins, seven.known, seven.within_slo, seven.long) == (5, 4, 3, 1)
    assert seven.percentiles[50] == pytest.approx((47.5 + 120.0) / 2)
    # a site with no sign-in: zero, and unknown percentiles (no series), never 0 s
    idle = got.sites[("28d", "idle")]
    assert (idle.signins, idle.percentiles[95]) == (0, None)
    assert got.sites[("24h", "south")].signins == 0
