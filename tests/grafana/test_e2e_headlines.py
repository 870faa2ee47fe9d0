"""The boards' headline figures equal the SLA report's, window by window.

A real collector (0.5 s fleet-state refresh: the window figures every 3 s) is fed by
``fleetpulse-agent simulate`` (a seeded fleet's 10 days of history at two sites, delivered
at once: a backlog) and, through the agent's own spool and sender, by devices with known
sign-ins: at ``west`` ones of 30 min and more, flagged, unknown and just under 30 min, none
in the last 24 hours; at ``east`` one of 30 min that ended minutes ago and one in progress
for 20 minutes; at ``idle`` a device with a boot and no sign-in at all. A real Prometheus
scrapes it every second with the repository's rules.

For each window (24h, 7d, 28d) every headline panel query of the Fleet overview and the
Sign-in SLA boards is evaluated at one instant (one scrape: one snapshot of the figures),
and ``fleetpulse-collector report --format json`` is run for the same period, ``[end - W,
end)`` with ``end`` read from the board's "Figures as of" panel. The stated tolerance:
counts equal exactly; shares and percentiles equal to 1e-9 relative (the exposition
format's float rendering); a figure the report calls unknown (null) has no series.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import (
    BootRecord,
    BootType,
    DeviceFacts,
    SigninRecord,
    SigninState,
)
from fleetpulse.contract.serde import record_to_bytes
from tests.grafana.dashboards import DEFAULT_VARIABLES, iter_panel_queries
from tests.grafana.prometheus import get, one_collector, requires_prometheus, run_prometheus
from tests.grafana.test_e2e_prometheus import SCRAPE_CONFIG_JOB, fast_rule_files, wait_until
from tests.procs import CollectorProc, cli, simulate, start_collector

pytestmark = requires_prometheus

SIM_SITES = ("north", "south")
SEED, DEVICES, DAYS = 30, 24, 10
DAY = 86400.0
WINDOWS = {"24h": DAY, "7d": 7 * DAY, "28d": 28 * DAY}
OVERVIEW, SLA = "fleetpulse-fleet-overview", "fleetpulse-signin-sla"
REL = 1e-9


@dataclass
class Live:
    prometheus: str
    collector: CollectorProc
    backlog_long: int  # simulated sign-ins of 30 min or more, delivered at once


def send(collector: CollectorProc, token: str, hostname: str, records: list[Any]) -> str:
    """Enrolls ``hostname`` and delivers ``records`` through the agent's spool and sender;
    returns the device id."""
    facts = DeviceFacts(hostname, "windows", "11", "0.1.0")
    got = enroll(collector.grpc, token, facts)
    spool = Spool(":memory:")
    sender = Sender(collector.grpc, got.device_id, got.device_secret)
    try:
        spool.put((r.kind, record_to_bytes(r, time.time())) for r in records)
        sent = sender.send(spool, facts)
        assert sent.ok and sent.acked == len(records) and sent.remaining == 0, sent
    finally:
        sender.close()
        spool.close()
    return got.device_id


def signin(i: int, started: float, total: float | None, first: bool | None = False) -> SigninRecord:
    return SigninRecord(
        f"s{i}", f"b{i}", "h", started, SigninState.COMPLETE, total, 0.0, (), first, False
    )


def feed_known(collector: CollectorProc, tokens: dict[str, str], now: float) -> None:
    send(
        collector,
        tokens["west"],
        "slow-host",
        [
            signin(0, now - 2.1 * DAY, 1800.0),  # exactly 30 min: counts as 30 min or more
            signin(1, now - 3.1 * DAY, 2700.5),
            signin(2, now - 4.1 * DAY, 1900.0, first=True),  # flagged: not in the SLA
            signin(3, now - 5.1 * DAY, None),  # unknown: a sign-in, in no share
            signin(4, now - 6.1 * DAY, 1799.999),
            signin(5, now - 9.0 * DAY, 95.0),  # only in the 28-day window
            signin(6, now - 20.0 * DAY, 30.0),
        ],
    )
    send(
        collector,
        tokens["east"],
        "late-host",
        [
            signin(0, now - 2400.0, 1900.0),  # ended 500 s ago: the alert fires
            signin(1, now - 3600.0, 40.0),
            SigninRecord("s2", "b2", "h", now - 1200.0, SigninState.IN_PROGRESS, None, 1200.0),
        ],
    )
    send(
        collector,
        tokens["idle"],
        "idle-host",
        [BootRecord("b0", now - 3 * DAY, 50.0, (), BootType.COLD, False, ())],
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("e2e-headlines")
    db = f"sqlite:///{workdir / 'collector.db'}"
    log = workdir / "collector.log"
    collector = start_collector(db, "--refresh-seconds", "0.5", log=log)
    try:
        tokens = {}
        for site in (*SIM_SITES, "west", "east", "idle"):
            made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", db)
            assert made.returncode == 0, made.stderr
            tokens[site] = made.stdout.strip()
        config = one_collector(
            collector.metrics_url, SCRAPE_CONFIG_JOB, fast_rule_files(workdir / "rules")
        )
        prom_dir = workdir / "prometheus"
        with run_prometheus(prom_dir, config) as base:
            truth = simulate(
                collector.grpc, [tokens[site] for site in SIM_SITES], DEVICES, DAYS, SEED
            )
            feed_known(collector, tokens, time.time())
            fed_at = time.time()

            def settled() -> bool:
                end = instant(base, "max(fleetpulse_login_window_end_timestamp_seconds)")
                alerts = instant(base, 'count(ALERTS{alertstate="firing"})')
                return end is not None and end > fed_at and alerts is not None

            wait_until("window figures computed after the last delivery", settled, log)
            yield Live(base, collector, truth["signins_30min_or_more"])
    finally:
        collector.stop()


def vector(base: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
    status, body = get(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}")
    assert (status, body["status"]) == (200, "success"), (expr, body.get("error"))
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def instant(base: str, expr: str, at: float | None = None) -> float | None:
    result = vector(base, expr, at)
    assert len(result) <= 1, (expr, result)
    return float(result[0]["value"][1]) if result else None


def panels(uid: str, window: str) -> dict[str, list[str]]:
    """Panel title -> its queries, with "All" sites and the given window."""
    out: dict[str, list[str]] = {}
    for u, title, expr in iter_panel_queries(variables={**DEFAULT_VARIABLES, "window": window}):
        if u == uid:
            out.setdefault(title, []).append(expr)
    return out


def report(live: Live, since: float, until: float) -> dict[str, Any]:
    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    run = cli(
        "fleetpulse-collector",
        "report",
        "--db",
        live.collector.db,
        "--since",
        iso(since),
        "--until",
        iso(until),
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def same(board: float | None, reported: float | None) -> bool:
    """The stated tolerance: exact for counts (floats of integers are exact), 1e-9
    relative for shares and percentiles; unknown (None) only equals unknown."""
    if board is None or reported is None:
        return board is None and reported is None
    return math.isclose(board, reported, rel_tol=REL, abs_tol=0.0)


@pytest.mark.parametrize("window", list(WINDOWS))
def test_headline_panels_equal_the_report(live: Live, window: str) -> None:
    base = live.prometheus
    # The time of the latest scrape: every query below reads that one scrape (one snapshot
    # of the figures), not a moment where a slow scrape left no sample.
    at = instant(base, "max(timestamp(fleetpulse_login_window_end_timestamp_seconds))")
    assert at is not None
    overview = panels(OVERVIEW, window)
    sla = panels(SLA, window)
    (as_of,) = overview["Figures as of"]
    end = instant(base, as_of, at)
    assert end is not None
    end /= 1000
    assert end == math.floor(end)
    r = report(live, end - WINDOWS[window], end)
    assert r["period"]["until"] == f"{datetime.fromtimestamp(end, UTC):%Y-%m-%dT%H:%M:%S}.000000Z"
    fleet = r["fleet"]

    (signins,) = overview["Sign-ins"]
    (within,) = overview["Within 120 s"]
    (long,) = overview["Took 30 min or more"]
    p95_by_site, p95_fleet = overview["p95"]
    assert instant(base, signins, at) == fleet["signins"]
    assert same(instant(base, within, at), fleet["share_within_slo"])
    assert instant(base, long, at) == fleet["long"]
    assert same(instant(base, p95_fleet, at), fleet["percentiles_seconds"]["p95"])

    # Per site: the overview's p95 series and the SLA board's bars, against the report's
    # sites (every enrolled site, those without a sign-in in the window too).
    sites = {s["site"]: s for s in r["sites"]}
    assert set(sites) == {*SIM_SITES, "west", "east", "idle"}

    def by_site(expr: str) -> dict[str, float]:
        return {s["metric"]["site"]: float(s["value"][1]) for s in vector(base, expr, at)}

    p95 = by_site(p95_by_site)
    counts = by_site(sla["Sign-ins by site"][0])
    longs = by_site(sla["Sign-ins of 30 min or more by site"][0])
    shares = by_site(sla["Within 120 s by site"][0])
    for name, s in sites.items():
        assert counts[name] == s["signins"], name
        assert longs[name] == s["long"], name
        assert same(shares.get(name), s["share_within_slo"]), (name, shares, s)
        assert same(p95.get(name), s["percentiles_seconds"]["p95"]), (name, p95, s)

    # The periods with none are there and say so: idle never signed in (no share, no
    # p95: unknown, not 0); west had none in the last 24 hours.
    assert sites["idle"]["signins"] == 0 and "idle" not in p95
    if window == "24h":
        assert sites["west"]["signins"] == 0 and "west" not in shares
    else:
        assert sites["west"]["long"] == 2  # 1800 s and 2700.5 s; flagged 1900 s left out
        assert sites["west"]["unknown_duration"] == 1
    # The sums over sites are the fleet's, and the figures are not trivially equal.
    assert sum(counts.values()) == fleet["signins"] > 0
    assert fleet["long"] >= (3 if window != "24h" else 1)

    if window == "28d":
        (compliance,) = sla["Compliance, 28 days"]
        assert same(instant(base, compliance, at), fleet["share_within_slo"])


def test_backlog_does_not_fire_the_30_minute_alert_a_recent_one_does(live: Live) -> None:
    """The simulated history (days old, delivered at once) holds sign-ins of 30 min or
    more that the ingest-time histograms counted in the last hour; only east's, which
    ended minutes ago, fires the alert."""
    base = live.prometheus
    assert live.backlog_long >= 1, "pick a SEED whose history has a sign-in of 30 min or more"
    ingested = instant(
        base,
        'sum(fleetpulse_login_duration_seconds_count{site=~"north|south"})'
        ' - sum(fleetpulse_login_duration_seconds_bucket{site=~"north|south", le="1800.0"})',
    )
    assert ingested == live.backlog_long
    firing = vector(base, 'ALERTS{alertname="FleetpulseLoginTook30MinutesOrMore"}')
    assert [(a["metric"]["site"], a["metric"]["os"]) for a in firing] == [("east", "windows")]
    ended = panels(OVERVIEW, "7d")["30 min or more, ended in the last hour"][0]
    assert instant(base, ended) == 1


def test_in_progress_alert_names_the_device_and_the_board_links_it(live: Live) -> None:
    base = live.prometheus
    wait_until(
        "the in-progress alert",
        lambda: bool(vector(base, 'ALERTS{alertname="FleetpulseLoginInProgressTooLong"}')),
        Path("/dev/null"),
    )
    firing = vector(base, 'ALERTS{alertname="FleetpulseLoginInProgressTooLong"}')
    assert [(a["metric"]["site"], a["metric"]["hostname"]) for a in firing] == [
        ("east", "late-host")
    ]
    assert firing[0]["metric"]["device_id"]
    (waiting,) = panels(OVERVIEW, "7d")["Waiting now: sign-ins in progress over 10 min"]
    rows = vector(base, waiting)
    assert [(s["metric"]["hostname"], s["metric"]["site"]) for s in rows] == [("late-host", "east")]
    assert float(rows[0]["value"][1]) >= 1200.0


def test_by_model_table_equals_the_report(live: Live) -> None:
    """The Fleet overview's by-model table, column by column, against the report's by-model
    section for the same 28 days (the simulated fleet's models; the hand-fed devices send
    no hardware: the unknown row)."""
    base = live.prometheus
    at = instant(base, "max(timestamp(fleetpulse_login_window_end_timestamp_seconds))")
    end = instant(base, "max(fleetpulse_login_window_end_timestamp_seconds)", at)
    assert at is not None and end is not None
    models = report(live, end - WINDOWS["28d"], end)["models"]["models"]
    devices, logins, p50, p95, boot_p95, hdd = panels(OVERVIEW, "28d")[
        "Sign-in and boot times by model"
    ]

    def by_model(expr: str) -> dict[tuple[str, str], float]:
        return {
            (s["metric"]["manufacturer"], s["metric"]["model"]): float(s["value"][1])
            for s in vector(base, expr, at)
        }

    columns = {
        name: by_model(expr)
        for name, expr in (
            ("devices", devices),
            ("logins", logins),
            ("p50", p50),
            ("p95", p95),
            ("boot_p95", boot_p95),
            ("hdd", hdd),
        )
    }
    rows = {(m["manufacturer"] or "unknown", m["model"] or "unknown"): m for m in models}
    assert len(rows) >= 5 and ("unknown", "unknown") in rows  # slow-host, late-host, idle-host
    assert set(columns["devices"]) == set(rows)  # fewer than 20 models: none pooled
    for key, m in rows.items():
        assert columns["devices"][key] == m["devices"], key
        assert columns["logins"][key] == m["signins"], key
        assert same(columns["p50"].get(key), m["signin_percentiles_seconds"]["p50"]), key
        assert same(columns["p95"].get(key), m["signin_percentiles_seconds"]["p95"]), key
        assert same(columns["boot_p95"].get(key), m["boot_percentiles_seconds"]["p95"]), key
        assert same(columns["hdd"].get(key), m["share_on_hdd"]), key
    assert any(m["share_on_hdd"] for m in models)  # the old desktops on spinning disks
