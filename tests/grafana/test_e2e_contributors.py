"""The why, end to end: a simulated fleet whose Windows sign-ins name contributors (and whose
Windows boots name culprits) reaches the store, /metrics, a real Prometheus and the report.

Timeline (about 20 s): a collector with per-device metrics, a 0.5 s refresh and a label cap
of CAP; Prometheus scrapes it every second; a first fleet reports (so the counters exist
before the second one raises them: increase() then sees the second fleet), then a second
fleet whose sign-ins also start startup applications named from 500 distinct names. Then:

- the store holds all 500 names; /metrics holds at most CAP of them (plus the closed
  vocabulary of profile types and one ``other`` per kind), and its seconds, by kind, are
  exactly the stored ones (the cap moves seconds to ``other``, never drops them);
- each device has at most PER_DEVICE_CONTRIBUTORS contributor series, those of its latest
  sign-in, largest first;
- the new panels of the Sign-in SLA, Boot and Device boards answer in Prometheus with the
  capped names;
- the report (the real CLI, JSON) names Drive Maps as the top contributor of every Windows
  sign-in of 30 minutes or more, none for the others, and its table equals the store's sums.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetpulse.collector.model import PER_DEVICE_CONTRIBUTORS
from fleetpulse.contract.phases import CONTRIBUTOR_KINDS, PROFILE_TYPES
from tests.grafana.dashboards import DEFAULT_VARIABLES, iter_panel_queries
from tests.grafana.prometheus import one_collector, query, requires_prometheus, run_prometheus
from tests.grafana.test_e2e_prometheus import WINDOWS, scalar, wait_until
from tests.procs import CollectorProc, cli, simulate, start_collector

pytestmark = requires_prometheus

CAP = 40  # serve --app-top-n
NAMES = 500  # simulate --contributor-names
DAYS = 7
COUNTER = "fleetpulse_login_contributor_seconds"
CULPRITS = "fleetpulse_boot_culprit_seconds"
PER_DEVICE = "fleetpulse_device_last_login_contributor_seconds"
JOB = "fleetpulse-collector"
PANELS = (
    ("fleetpulse-signin-sla", "What slows sign-ins, fleet-wide"),
    ("fleetpulse-signin-sla", "Named contributor time per hour, by kind"),
    ("fleetpulse-boot", "What slows boots, fleet-wide"),
    ("fleetpulse-boot", "Culprit time per hour, by kind"),
    ("fleetpulse-device", "Latest sign-in: what it waited for"),
)


@dataclass
class Fed:
    prometheus: str
    collector: CollectorProc
    db_file: Path
    metrics: str  # one scrape of /metrics after both fleets


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    workdir = tmp_path_factory.mktemp("e2e-contributors")
    db_file = workdir / "collector.db"
    db = f"sqlite:///{db_file}"
    collector = start_collector(
        db,
        "--per-device-metrics",
        "--refresh-seconds",
        "0.5",
        "--app-top-n",
        str(CAP),
        log=workdir / "collector.log",
    )
    try:
        made = cli("fleetpulse-collector", "token", "create", "--site", "north", "--db", db)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        config = one_collector(collector.metrics_url, JOB)
        prom_dir = workdir / "prometheus"
        log = prom_dir / "prometheus.log"
        with run_prometheus(prom_dir, config) as base:
            wait_until("the scrape", lambda: scalar(base, f'up{{job="{JOB}"}}') == 1, log)
            simulate(collector.grpc, [token], 10, DAYS, 21)
            first = _stored_seconds(db_file)
            wait_until(
                "the first fleet's contributors in Prometheus",
                lambda: _approx(scalar(base, f"sum({COUNTER}_total)"), first),
                log,
            )
            time.sleep(2)  # more samples before the second fleet
            simulate(collector.grpc, [token], 40, DAYS, 30, "--contributor-names", str(NAMES))
            total = _stored_seconds(db_file)
            wait_until(
                "every contributor second in Prometheus",
                lambda: _approx(scalar(base, f"sum({COUNTER}_total)"), total),
                log,
            )
            time.sleep(1.5)  # a fleet-state refresh after the last report, and its scrape
            with urllib.request.urlopen(collector.metrics_url, timeout=10) as resp:
                metrics = resp.read().decode()
            wait_until(
                "the per-device contributors in Prometheus",
                lambda: scalar(base, f"count({PER_DEVICE})") == metrics.count(f"{PER_DEVICE}{{"),
                log,
            )
            yield Fed(base, collector, db_file, metrics)
    finally:
        collector.stop()


def _approx(got: float | None, want: float) -> bool:
    return got is not None and abs(got - want) <= 1e-6 * max(1.0, want)


def _stored_seconds(db_file: Path) -> float:
    return sum(seconds for seconds in _stored_by_kind(db_file).values())


def _read(db_file: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _stored_by_kind(db_file: Path) -> dict[str, float]:
    rows = _read(db_file, "SELECT kind, SUM(seconds) FROM signin_contributors GROUP BY kind")
    return {str(k): float(s) for k, s in rows}


def _family(text: str, name: str) -> list[Any]:
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == name]
    return list(family.samples)


def test_the_store_keeps_every_name_and_metrics_keep_the_cap(fed: Fed) -> None:
    ((distinct,),) = _read(
        fed.db_file,
        "SELECT COUNT(DISTINCT name) FROM signin_contributors WHERE name LIKE 'tool%.exe'",
    )
    assert distinct == NAMES
    samples = _family(fed.metrics, COUNTER)
    pairs = {(s.labels["kind"], s.labels["name"]) for s in samples}
    own = {p for p in pairs if p[1] != "other" and p[0] != "profile"}
    assert len(own) <= CAP, len(own)
    assert {n for k, n in pairs if k == "profile"} <= set(PROFILE_TYPES)
    assert len(pairs) <= CAP + len(PROFILE_TYPES) + len(CONTRIBUTOR_KINDS)
    assert ("startup_app", "other") in pairs  # 500 names do not fit
    # no second lost: by kind, the exposed seconds are the stored ones
    exposed: dict[str, float] = {}
    for s in samples:
        exposed[s.labels["kind"]] = exposed.get(s.labels["kind"], 0.0) + s.value
    stored = _stored_by_kind(fed.db_file)
    assert exposed == pytest.approx(stored, rel=1e-9)
    culprits = _family(fed.metrics, CULPRITS)
    assert culprits and all(
        s.labels["kind"] in ("service", "driver", "application") for s in culprits
    )
    ((culprit_boots,),) = _read(fed.db_file, "SELECT COUNT(*) FROM boots WHERE culprits <> '[]'")
    assert culprit_boots > 0


def test_each_device_has_its_latest_sign_ins_largest_contributors(fed: Fed) -> None:
    got: dict[str, list[float]] = {}
    for s in _family(fed.metrics, PER_DEVICE):
        got.setdefault(s.labels["device_id"], []).append(s.value)
    assert got and all(len(v) <= PER_DEVICE_CONTRIBUTORS for v in got.values())
    latest = _read(
        fed.db_file,
        "SELECT d.device_id, c.seconds FROM devices d JOIN signins s"
        " ON s.device_id = d.device_id AND s.started_at = d.last_signin_at"
        " JOIN signin_contributors c ON c.device_id = s.device_id AND c.seq = s.seq",
    )
    want: dict[str, list[float]] = {}
    for device, seconds in latest:
        want.setdefault(device, []).append(float(seconds))
    assert {d: sorted(v, reverse=True)[:PER_DEVICE_CONTRIBUTORS] for d, v in want.items()} == {
        d: sorted(v, reverse=True) for d, v in got.items()
    }


def _panel(fed: Fed, uid: str, title: str) -> list[dict[str, Any]]:
    variables = {**DEFAULT_VARIABLES, **WINDOWS}
    (expr,) = [e for u, t, e in iter_panel_queries(variables=variables) if (u, t) == (uid, title)]
    status, body = query(fed.prometheus, expr)
    assert (status, body["status"]) == (200, "success"), (expr, body.get("error"))
    return list(body["data"]["result"])


@pytest.mark.parametrize(("uid", "title"), PANELS, ids=[f"{u}:{t}" for u, t in PANELS])
def test_the_new_panels_answer_in_prometheus(fed: Fed, uid: str, title: str) -> None:
    result = _panel(fed, uid, title)
    assert result, f"{uid} / {title}: empty"
    assert all(float(r["value"][1]) >= 0 for r in result)
    exposed = {
        (s.labels["kind"], s.labels["name"])
        for name in (COUNTER, CULPRITS, PER_DEVICE)
        for s in _family(fed.metrics, name)
    }
    for r in result:
        if "name" in r["metric"]:
            assert (r["metric"]["kind"], r["metric"]["name"]) in exposed, r["metric"]


def test_the_fleet_panel_ranks_the_capped_names(fed: Fed) -> None:
    result = _panel(fed, "fleetpulse-signin-sla", "What slows sign-ins, fleet-wide")
    assert 1 < len(result) <= 15
    ranked = sorted(result, key=lambda r: -float(r["value"][1]))
    names = [r["metric"]["name"] for r in ranked]
    # a name's series is born with the report that first names it, so increase() counts
    # only what came after; the 500 names (0.5 s each) never lead
    assert not names[0].startswith("tool") and float(ranked[0]["value"][1]) > 0
    assert "Drive Maps" in names


def test_the_report_names_the_why(fed: Fed) -> None:
    run = cli(
        "fleetpulse-collector",
        "report",
        "--db",
        fed.collector.db,
        "--since",
        f"{DAYS + 1}d",
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    os_of = dict(_read(fed.db_file, "SELECT device_id, os FROM devices"))
    long = report["long_signins"]
    assert any(os_of[s["device_id"]] == "windows" for s in long), "no Windows long sign-in"
    for s in long:
        top = s["top_contributor"]
        if os_of[s["device_id"]] == "windows":
            assert (top["kind"], top["phase"], top["name"]) == (
                "gp_extension",
                "group_policy",
                "Drive Maps",
            )
            assert top["seconds"] > 0.9 * 0.85 * 0.9 * 1800 * 0.7
        else:
            assert top is None
    section = report["contributors"]
    assert len(section["top"]) == 10
    ((name, kind, signins, seconds),) = _read(
        fed.db_file,
        "SELECT c.name, c.kind, COUNT(DISTINCT c.device_id || ':' || c.seq), SUM(c.seconds)"
        " FROM signin_contributors c JOIN signins s"
        " ON s.device_id = c.device_id AND s.seq = c.seq"
        " WHERE COALESCE(s.first_login, 0) = 0 AND COALESCE(s.after_update, 0) = 0"
        " GROUP BY c.kind, c.name ORDER BY SUM(c.seconds) DESC LIMIT 1",
    )
    first = section["top"][0]
    assert (first["name"], first["kind"], first["signins"]) == (name, kind, signins)
    assert first["total_seconds"] == pytest.approx(seconds, rel=1e-9)
    assert 0 < first["share"] < 1
