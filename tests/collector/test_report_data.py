"""The SLA report's figures from a real store (SQLite and PostgreSQL), against hand-made data
whose every figure is worked out here independently (numpy for the percentiles)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy
import pytest

from fleetpulse.collector.auth import digest
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.report.data import build_report, dominant_phase, iso_weeks, percentile
from fleetpulse.collector.report.text import verdict
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import BootRecord, DeviceFacts, Phase, SigninRecord, SigninState

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: the 28-day period spans ISO weeks 2026-W51..W53
DAY = 86400.0
PERIOD = 28 * DAY

# (device, site, hostname, enrolled days ago)
DEVICES = [
    ("a", "north", "host-a", 30),
    ("b", "south", "host-b", 30),
    ("c", "south", "host-c", 20),
    ("d", "north", "host-d", 2),
    ("e", "north", "host-e", 30),  # revoked below
    ("f", "north", "host-f", 1),
]
# (device, days ago, total or None, first_login, after_update, phases)
SIGNINS: list[tuple[str, float, float | None, bool | None, bool | None, dict[str, float]]] = [
    ("a", 1.2, 10.0, False, False, {"core": 8.0, "responsive": 2.0}),
    ("a", 2.2, 50.0, None, None, {}),
    ("a", 3.2, 119.999, False, False, {"core": 100.0, "responsive": 19.999}),
    ("a", 4.2, 120.0, False, False, {}),
    ("a", 5.2, 121.0, False, False, {}),
    (
        "a",
        8.2,
        1800.0,
        False,
        False,
        {"core": 1790.0, "responsive": 10.0, "group_policy": 1500.0, "profile": 200.0},
    ),
    ("a", 15.2, 2000.0, False, False, {"core": 1990.0, "responsive": 10.0}),
    ("a", 16.2, None, False, False, {"core": 12.0}),
    ("a", 9.1, 3000.0, True, False, {"core": 2990.0, "responsive": 10.0}),  # first login
    ("a", 9.2, 30.0, False, True, {}),  # after an update
    ("a", 40.0, 5000.0, False, False, {}),  # before the period
    ("b", 20.0, 60.0, False, False, {}),
    ("b", 25.0, 300.0, False, False, {}),
]
BOOTS = [("a", 5.0, 45.0), ("a", 4.0, None), ("c", 3.0, 30.0), ("a", 30.0, 99.0)]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    for dev, site, hostname, days in DEVICES:
        s.create_token(f"t-{dev}", digest(f"fpt_{dev}"), site, NOW - 40 * DAY, None, None)
        s.enroll(
            digest(f"fpt_{dev}"),
            dev,
            digest("x"),
            hostname,
            "windows",
            "11",
            "0.1.0",
            "hw",
            "mid",
            NOW - days * DAY,
        )
    s.revoke_device("e", NOW - DAY)
    hosts = {d[0]: d[2] for d in DEVICES}
    for seq, (dev, ago, total, first, update, phases) in enumerate(SIGNINS, start=1):
        record = SigninRecord(
            f"s{seq}",
            f"b{seq}",
            "h",
            NOW - ago * DAY,
            SigninState.COMPLETE,
            total,
            0.0,
            tuple(Phase(k, v) for k, v in phases.items()),
            first,
            update,
        )
        facts = DeviceFacts(hosts[dev], "windows", "11", "0.1.0")
        s.ingest([Report(dev, facts, [Incoming(seq, NOW - DAY, record)], NOW)], NOW - 40 * DAY)
    for seq, (dev, ago, total) in enumerate(BOOTS, start=100):
        boot = BootRecord(f"boot{seq}", NOW - ago * DAY, total)
        facts = DeviceFacts(hosts[dev], "windows", "11", "0.1.0")
        s.ingest([Report(dev, facts, [Incoming(seq, NOW - DAY, boot)], NOW)], NOW - 40 * DAY)
    # f sends one report with no records an hour ago: it reported in the period
    s.ingest([Report("f", DeviceFacts("host-f", "windows", "11", "0.1.0"), [], NOW)], NOW - 3600)
    yield s
    s.close()


def in_period(include_flagged: bool) -> list[tuple[str, float, float | None]]:
    return [
        (dev, NOW - ago * DAY, total)
        for dev, ago, total, first, update, _ in SIGNINS
        if ago * DAY <= PERIOD and (include_flagged or not (first or update))
    ]


@pytest.mark.parametrize("include_flagged", [False, True])
def test_fleet_figures_match_numpy_and_counts(store: Store, include_flagged: bool) -> None:
    report = build_report(store, NOW, PERIOD, 120.0, 0.95, include_flagged)
    expected = in_period(include_flagged)
    known = [t for _, _, t in expected if t is not None]
    f = report.fleet
    assert f.signins == len(expected) == (12 if include_flagged else 10)
    assert f.unknown == 1 and f.known == len(known)
    assert f.within_slo == sum(1 for t in known if t <= 120) == (6 if include_flagged else 5)
    assert f.long == (3 if include_flagged else 2)
    for p in (50, 90, 95, 99):
        assert f.percentiles[p] == pytest.approx(numpy.percentile(known, p), abs=1e-9)
    assert f.share_within_slo == pytest.approx(f.within_slo / len(known))
    assert report.meets_target is False
    long = [(s.device_id, s.total_seconds) for s in report.long_signins]
    want = [(d, t) for d, _, t in sorted(expected, key=lambda e: e[1]) if t and t >= 1800]
    assert long == want


def test_flagged_sign_ins_are_counted_and_excluded(store: Store) -> None:
    fl = build_report(store, NOW, PERIOD).flagged
    assert (fl.first_login, fl.after_update, fl.either, fl.long, fl.included) == (1, 1, 2, 1, False)
    assert build_report(store, NOW, PERIOD, include_flagged=True).flagged.included


def test_dominant_phase_of_the_listed_sign_ins(store: Store) -> None:
    long = build_report(store, NOW, PERIOD).long_signins
    assert [(s.dominant_phase, s.dominant_phase_seconds) for s in long] == [
        ("core", 1990.0),  # no sub-phase: the larger of core and responsive
        ("group_policy", 1500.0),  # sub-phases exist: the largest of them
    ]
    assert [s.hostname for s in long] == ["host-a", "host-a"]


def test_coverage_without_inventory_is_unknown_not_zero(store: Store) -> None:
    report = build_report(store, NOW, PERIOD)
    c = report.coverage
    assert c.reporting == 4  # a, b (sign-ins), c (a boot), f (a report); not d, not e
    assert (c.expected, c.reporting_expected, c.reporting_not_in_inventory, c.share) == (
        None,
        None,
        None,
        None,
    )
    assert all(s.devices_expected is None for s in report.sites)


def test_a_later_report_does_not_make_a_device_reporting_in_a_past_period(store: Store) -> None:
    # f's only contact is a report an hour before NOW: it reported in the period ending at
    # NOW, not in one that ended ten days earlier
    assert "f" in {d.device_id for d in store.device_activity()}
    assert build_report(store, NOW, PERIOD).coverage.reporting == 4
    end = NOW - 10 * DAY
    with_events = {r.device_id for r in store.signins_between(end - PERIOD, end)} | {
        b.device_id for b in store.boots_between(end - PERIOD, end)
    }
    assert with_events and "f" not in with_events
    assert build_report(store, end, PERIOD).coverage.reporting == len(with_events)


def test_coverage_matches_inventory_hostnames(store: Store) -> None:
    store.import_inventory([("host-a", "north"), ("HOST-B", "south"), ("host-x", "north")])
    report = build_report(store, NOW, PERIOD)
    c = report.coverage
    assert (c.reporting, c.expected, c.reporting_expected, c.reporting_not_in_inventory) == (
        4,
        3,
        2,
        2,
    )
    assert c.share == pytest.approx(2 / 3)
    by_site = {s.site: (s.devices_reporting, s.devices_expected) for s in report.sites}
    assert by_site == {"north": (2, 2), "south": (2, 1)}


def test_per_site_figures(store: Store) -> None:
    sites = {s.site: s.durations for s in build_report(store, NOW, PERIOD).sites}
    north = [t for d, _, t in in_period(False) if d == "a" and t is not None]
    assert sites["north"].signins == 8 and sites["north"].unknown == 1
    assert sites["north"].percentiles[95] == pytest.approx(numpy.percentile(north, 95))
    assert (sites["south"].signins, sites["south"].within_slo, sites["south"].long) == (2, 1, 0)
    assert sites["south"].percentiles[50] == pytest.approx(180.0)


def test_weeks_are_iso_weeks_and_wait_is_every_known_duration(store: Store) -> None:
    report = build_report(store, NOW, PERIOD)
    labels = [w.week for w in report.weeks]
    assert labels == ["2026-W51", "2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert report.weeks[0].start == NOW - PERIOD and report.weeks[-1].end == NOW

    def week_of(t: float) -> str:
        y, w, _ = datetime.fromtimestamp(t, UTC).isocalendar()
        return f"{y}-W{w:02d}"

    for w in report.weeks:
        mine = [
            (t, f or u)
            for d, ago, t, f, u, _ in SIGNINS
            if ago * DAY <= PERIOD and week_of(NOW - ago * DAY) == w.week
        ]
        boots = [
            t for _, ago, t in BOOTS if ago * DAY <= PERIOD and week_of(NOW - ago * DAY) == w.week
        ]
        assert w.durations.signins == sum(1 for _, flagged in mine if not flagged)
        assert w.signin_wait_seconds == pytest.approx(sum(t for t, _ in mine if t is not None))
        assert w.boot_wait_seconds == pytest.approx(sum(t for t in boots if t is not None))
        assert w.signins_unknown == sum(1 for t, _ in mine if t is None)
        assert (w.boots, w.boots_unknown) == (len(boots), boots.count(None))
    total = sum(w.wait_hours for w in report.weeks)
    assert total == pytest.approx((7250.999 + 360.0 + 75.0) / 3600)


def test_unused_devices(store: Store) -> None:
    unused = build_report(store, NOW, PERIOD).unused
    # b: last sign-in 20 days ago; c: never; d, f: enrolled recently; e: revoked; a: active
    assert [(u.hostname, u.site, u.last_signin_at) for u in unused] == [
        ("host-b", "south", NOW - 20 * DAY),
        ("host-c", "south", None),
    ]


def test_empty_period_has_no_figures_only_unknowns(store: Store) -> None:
    report = build_report(store, NOW + 100 * DAY, 7 * DAY)
    assert report.fleet.signins == 0
    assert report.fleet.percentiles == {50: None, 90: None, 95: None, 99: None}
    assert report.fleet.share_within_slo is None and report.meets_target is None
    sentence = verdict(report)
    assert (
        sentence.startswith("No sign-in with a known duration on ") and "unknown of" not in sentence
    )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1001])
def test_percentile_is_numpy_linear(n: int) -> None:
    rng = numpy.random.default_rng(n)
    values = sorted(float(v) for v in rng.lognormal(3.5, 0.8, n))
    for p in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
        got = percentile(values, p)
        assert got is not None
        assert math.isclose(got, float(numpy.percentile(values, p)), rel_tol=1e-12)
    assert percentile([], 50) is None


def test_dominant_phase_rules() -> None:
    assert dominant_phase({}) == (None, None)
    assert dominant_phase({"core": 5.0, "responsive": 9.0}) == ("responsive", 9.0)
    assert dominant_phase({"core": 50.0, "responsive": 9.0, "profile": 3.0}) == ("profile", 3.0)


def test_iso_weeks_are_contiguous_and_clipped() -> None:
    weeks = iso_weeks(NOW - 10 * DAY, NOW)
    assert [w[0] for w in weeks] == ["2027-W01", "2027-W02"]
    assert weeks[0][1] == NOW - 10 * DAY and weeks[-1][2] == NOW
    assert weeks[0][2] == weeks[1][1] == datetime(2027, 1, 11, tzinfo=UTC).timestamp()
