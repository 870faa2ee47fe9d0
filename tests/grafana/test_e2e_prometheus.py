"""Every panel of every dashboard shows data: a real Prometheus scrapes a real collector fed
by ``fleetpulse-agent simulate``, and each panel query, with the dashboard variables filled
in, must answer with at least one finite value.

Timeline (about 20 s): the collector starts with per-device metrics and a 0.5 s fleet-state
refresh; tokens for three sites and an inventory (every simulated hostname plus a few spare
ones never enrolled) go into its database; Prometheus starts scraping it every second with
the repository's rule files; a first simulated fleet sends its history, Prometheus scrapes
that, then a second fleet sends its history and some live sign-ins. Histograms count at
ingest time, so everything the fleets sent lands "now"; the first fleet makes the series
exist before the second one raises them, so rate() and increase() over the short windows
below see an increase (a series that appears already at its final value shows none).

Prometheus gets copies of the rule files with the group interval cut to 1 s (the sign-in
SLO group says 1m, which alone would make the test wait up to a minute); the rules are
otherwise unchanged.
"""

from __future__ import annotations

import csv
import math
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.dashboards import (
    DEFAULT_VARIABLES,
    iter_panel_queries,
    iter_variable_queries,
    substitute,
)
from tests.grafana.prometheus import (
    get,
    one_collector,
    query,
    requires_prometheus,
    run_prometheus,
)
from tests.grafana.rules import rule_files
from tests.procs import CollectorProc, cli, start_collector
from tests.procs import simulate as run_simulate

pytestmark = requires_prometheus

SITES = ("north", "south", "east")  # simulated device i enrolls with the token of SITES[i % 3]
DAYS = 3
SPARE_PER_SITE = 2  # inventory entries per site that never enroll


@dataclass(frozen=True)
class Fleet:
    seed: int
    devices: int
    live: tuple[str, ...] = ()  # --rate/--duration of the live phase

    def hostname(self, i: int) -> str:
        return f"sim-{self.seed}-{i:05d}"  # agent/simulate.py names devices so


# Seeds picked so that the first fleet has every site/OS pair the second one reports (the
# second fleet's counts all show in rate()) and the second has sign-ins of 30 min or more.
FIRST = Fleet(seed=21, devices=30)
SECOND = Fleet(seed=30, devices=40, live=("--rate", "4", "--duration", "6"))

# Short windows that hold many 1 s scrapes, all of them within the test's lifetime, so a
# rate() spans the moment before the second fleet reported and the moments after.
WINDOWS = {"__rate_interval": "2m", "__interval": "1s", "__range": "5m"}

SCRAPE_CONFIG_JOB = "fleetpulse-collector"  # the job the boards and alerts expect
WAIT_TIMEOUT_S = 30

# Panels that stay empty on this data however it is fed, with the reason. Kept small:
# at most 10 % of the panel queries (asserted), and each entry must still be empty
# (asserted), so a fixed collector makes the test ask for the entry to go.
EMPTY_ALLOWED: dict[tuple[str, str], str] = {
    ("fleetpulse-fleet-overview", "Waiting now: sign-ins in progress over 10 min"): (
        "no simulated sign-in is in progress for 10 minutes (the live ones last seconds); "
        "test_e2e_headlines.py feeds one and reads this panel"
    ),
}


@dataclass
class Live:
    """The running system and what the test fed into it."""

    prometheus: str
    collector: CollectorProc
    truths: list[dict[str, Any]]
    enrolled: dict[str, int]  # per site
    expected: dict[str, int]  # per site (inventory)
    variable_sets: dict[str, dict[str, str]] = field(default_factory=dict)


def scalar(base: str, expr: str) -> float | None:
    """The single value of an instant query, None when the result is empty."""
    status, body = query(base, expr)
    assert (status, body["status"]) == (200, "success"), (expr, body.get("error"))
    result = body["data"]["result"]
    if not result:
        return None
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def wait_until(what: str, check: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(
        f"timed out after {WAIT_TIMEOUT_S} s waiting for {what}\n"
        f"{log.read_text()[-3000:] if log.exists() else ''}"
    )


def simulate(collector: CollectorProc, tokens: list[str], fleet: Fleet) -> dict[str, Any]:
    truth: dict[str, Any] = run_simulate(
        collector.grpc, tokens, fleet.devices, DAYS, fleet.seed, *fleet.live
    )
    return truth


def fast_rule_files(workdir: Path) -> list[str]:
    """Copies of the repository's rule files, every group evaluated each second."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in rule_files():
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in content["groups"]:
            group["interval"] = "1s"
        copy = workdir / path.name
        copy.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        out.append(str(copy))
    return out


def label_values(base: str, selector: str, label: str) -> list[str]:
    """What Grafana's label_values(selector, label) lists."""
    params = urllib.parse.urlencode({"match[]": selector})
    status, body = get(f"{base}/api/v1/label/{label}/values?{params}")
    assert (status, body["status"]) == (200, "success"), (selector, body.get("error"))
    return sorted(body["data"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("e2e-prometheus")
    db = f"sqlite:///{workdir / 'collector.db'}"
    collector_log = workdir / "collector.log"
    collector = start_collector(
        db, "--per-device-metrics", "--refresh-seconds", "0.5", log=collector_log
    )
    try:
        tokens = []
        for site in SITES:
            made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", db)
            assert made.returncode == 0, made.stderr
            tokens.append(made.stdout.strip())

        enrolled = dict.fromkeys(SITES, 0)
        inventory = []
        for fleet in (FIRST, SECOND):
            for i in range(fleet.devices):
                site = SITES[i % len(SITES)]
                enrolled[site] += 1
                inventory.append((fleet.hostname(i), site))
        inventory += [(f"spare-{site}-{k}", site) for site in SITES for k in range(SPARE_PER_SITE)]
        expected = {site: sum(1 for _, s in inventory if s == site) for site in SITES}
        inventory_csv = workdir / "inventory.csv"
        with inventory_csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["hostname", "site"])
            writer.writerows(inventory)
        imported = cli(
            "fleetpulse-collector", "inventory", "import", str(inventory_csv), "--db", db
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.strip() == f"imported {len(inventory)} expected device(s)"

        config = one_collector(
            collector.metrics_url, SCRAPE_CONFIG_JOB, fast_rule_files(workdir / "rules")
        )
        prom_dir = workdir / "prometheus"
        prom_log = prom_dir / "prometheus.log"
        with run_prometheus(prom_dir, config) as base:
            wait_until(
                "the collector to be scraped",
                lambda: scalar(base, f'up{{job="{SCRAPE_CONFIG_JOB}"}}') == 1,
                prom_log,
            )

            first = simulate(collector, tokens, FIRST)
            logins = "sum(fleetpulse_login_duration_seconds_count)"
            wait_until(
                "the first fleet's sign-ins in Prometheus",
                lambda: scalar(base, logins) == first["signins"],
                prom_log,
            )
            # More samples of the first fleet's state before the second fleet reports.
            time.sleep(2)

            second = simulate(collector, tokens, SECOND)
            total = first["signins"] + second["signins"]
            wait_until(
                "every sign-in in Prometheus", lambda: scalar(base, logins) == total, prom_log
            )
            seen_at = time.time()
            # Every rule of the SLO group evaluated on the final data (the group evaluates
            # in order; the 28-day burn rate comes last).
            wait_until(
                "the recording rules to evaluate the final data",
                lambda: (
                    (scalar(base, "timestamp(fleetpulse:login_sla_burn_rate:rate28d)") or 0)
                    > seen_at + 1
                ),
                prom_log,
            )
            yield Live(base, collector, [first, second], enrolled, expected)
    finally:
        collector.stop()


def variable_set(live: Live, name: str) -> dict[str, str]:
    """The dashboard variables for one way of looking at the boards: "all" ("All" on every
    variable, as the boards open) or "one" (one site and OS, the device board on that
    site's first device as Grafana picks it: the first of label_values)."""
    if name in live.variable_sets:
        return live.variable_sets[name]
    everything = {**DEFAULT_VARIABLES, **WINDOWS}
    if name == "all":
        live.variable_sets[name] = everything
        return everything
    assert name == "one", name
    base = live.prometheus
    site, os_name = "north", "windows"
    assert site in label_values(base, "fleetpulse_devices", "site")
    assert os_name in label_values(base, f'fleetpulse_devices{{site=~"{site}"}}', "os")
    hostnames = label_values(
        base, f'fleetpulse_device_last_seen_timestamp_seconds{{site=~"{site}"}}', "hostname"
    )
    assert hostnames, "the device board's hostname variable lists no device of the site"
    device_ids = label_values(
        base,
        f'fleetpulse_device_last_seen_timestamp_seconds{{site=~"{site}", '
        f'hostname=~"{hostnames[0]}"}}',
        "device_id",
    )
    assert len(device_ids) == 1, device_ids
    live.variable_sets[name] = {
        **everything,
        "site": site,
        "os": os_name,
        "hostname": hostnames[0],
        "device_id": device_ids[0],
        "top": "5",
    }
    return live.variable_sets[name]


VARIABLE_SET_NAMES = ("all", "one")
# (uid, title) of every panel query, in order; the expressions are filled in at run time.
PANEL_IDS = [(uid, title) for uid, title, _ in iter_panel_queries(variables=DEFAULT_VARIABLES)]


def panel_query(variables: Mapping[str, str], index: int) -> tuple[str, str, str]:
    return list(iter_panel_queries(variables=variables))[index]


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    return [v for v in (float(s["value"][1]) for s in result) if math.isfinite(v)]


@pytest.mark.parametrize("variables", VARIABLE_SET_NAMES)
@pytest.mark.parametrize(
    "index", range(len(PANEL_IDS)), ids=[f"{uid}:{title}" for uid, title in PANEL_IDS]
)
def test_panel_query_has_data(live: Live, variables: str, index: int) -> None:
    uid, title, expr = panel_query(variable_set(live, variables), index)
    status, body = query(live.prometheus, expr)
    assert (status, body["status"]) == (200, "success"), (expr, body.get("error"))
    assert body["data"]["resultType"] == "vector", body["data"]
    result = body["data"]["result"]
    if (uid, title) in EMPTY_ALLOWED:
        assert result == [], (
            f"{uid} / {title} has data now; remove it from EMPTY_ALLOWED: {result[:3]}"
        )
        return
    assert result, f"{uid} / {title}: empty result for\n{expr}"
    assert finite_values(result), f"{uid} / {title}: no finite value in {result[:5]} for\n{expr}"


def test_empty_allowlist_is_small_and_names_real_panels() -> None:
    panels = set(PANEL_IDS)
    assert set(EMPTY_ALLOWED) <= panels, set(EMPTY_ALLOWED) - panels
    allowed_queries = sum(1 for p in PANEL_IDS if p in EMPTY_ALLOWED)
    assert allowed_queries <= len(PANEL_IDS) // 10, (allowed_queries, len(PANEL_IDS))
    assert all(reason.strip() for reason in EMPTY_ALLOWED.values())


@pytest.mark.parametrize("variables", VARIABLE_SET_NAMES)
def test_variable_queries_list_values(live: Live, variables: str) -> None:
    """Every query variable's drop-down has entries, including the chosen value."""
    chosen = variable_set(live, variables)
    for uid, name, text in iter_variable_queries():
        selector, label = (
            text.strip().removeprefix("label_values(").removesuffix(")").rsplit(",", 1)
        )
        values = label_values(live.prometheus, substitute(selector, chosen), label.strip())
        assert values, f"{uid}: variable {name} lists nothing ({text})"
        if chosen[name] != ".*":
            assert chosen[name] in values, (uid, name, chosen[name], values)


def one_panel(live: Live, uid: str, title: str) -> str:
    """The query of a single-query panel, with "All" on every variable."""
    exprs = [
        e
        for u, t, e in iter_panel_queries(variables=variable_set(live, "all"))
        if (u, t) == (uid, title)
    ]
    assert len(exprs) == 1, (uid, title, exprs)
    return exprs[0]


def test_rollout_coverage_is_enrolled_over_inventory(live: Live) -> None:
    enrolled, expected = sum(live.enrolled.values()), sum(live.expected.values())
    assert enrolled == FIRST.devices + SECOND.devices
    assert expected == enrolled + SPARE_PER_SITE * len(SITES)
    base = live.prometheus
    assert scalar(base, one_panel(live, "fleetpulse-rollout", "Enrolled devices")) == enrolled
    assert scalar(base, one_panel(live, "fleetpulse-rollout", "Expected devices")) == expected
    coverage = scalar(base, one_panel(live, "fleetpulse-rollout", "Coverage"))
    assert coverage == pytest.approx(enrolled / expected, rel=1e-12)
    assert coverage is not None and coverage < 1  # the spares never enroll

    # The per-site table: its query that divides by the expected devices is the coverage.
    sites = [
        e
        for u, t, e in iter_panel_queries(variables=variable_set(live, "all"))
        if (u, t) == ("fleetpulse-rollout", "Sites") and "/ on (site)" in e
    ]
    assert len(sites) == 1, sites
    expr = sites[0]
    status, body = query(base, expr)
    assert (status, body["status"]) == (200, "success"), body.get("error")
    by_site = {s["metric"]["site"]: float(s["value"][1]) for s in body["data"]["result"]}
    assert by_site == pytest.approx(
        {site: live.enrolled[site] / live.expected[site] for site in SITES}, rel=1e-12
    )


def test_boards_count_what_the_fleets_sent(live: Live) -> None:
    """The panels read the fed numbers, not just something: every sign-in and boot is
    counted once, live sign-ins are in progress, and Prometheus scraped one collector."""
    first, second = live.truths
    base = live.prometheus
    assert scalar(base, one_panel(live, "fleetpulse-rollout", "Collectors up")) == 1
    in_progress = scalar(base, one_panel(live, "fleetpulse-fleet-overview", "In progress now"))
    assert in_progress is not None and in_progress > 0
    longest = scalar(base, one_panel(live, "fleetpulse-fleet-overview", "Longest in progress"))
    assert longest is not None and longest > 0
    assert scalar(base, "sum(fleetpulse_login_duration_seconds_count)") == (
        first["signins"] + second["signins"]
    )
    assert scalar(base, "sum(fleetpulse_boots_total)") == (
        first["by_kind"]["boot"] + second["by_kind"]["boot"]
    )
    slow = first["signins_30min_or_more"] + second["signins_30min_or_more"]
    assert second["signins_30min_or_more"] >= 1, "pick a SECOND seed with a long sign-in"
    assert (
        scalar(
            base,
            "sum(fleetpulse_login_duration_seconds_count) - "
            'sum(fleetpulse_login_duration_seconds_bucket{le="1800.0"})',
        )
        == slow
    )
    # The headline stats are by event time over the last 7 days (the simulated 3 days),
    # flagged sign-ins out: at most what was sent. test_e2e_headlines.py checks them
    # against the SLA report exactly.
    took = scalar(base, one_panel(live, "fleetpulse-fleet-overview", "Took 30 min or more"))
    assert took is not None and took <= slow
    signins = scalar(base, one_panel(live, "fleetpulse-fleet-overview", "Sign-ins"))
    assert signins is not None and 0 < signins <= first["signins"] + second["signins"]
