"""Rollout coverage: 100 expected devices in the inventory, 80 enrolled — the metrics,
`devices --coverage` and the Rollout board's Coverage query all say 80 %."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.grafana.dashboards import DEFAULT_VARIABLES, iter_panel_queries
from tests.grafana.prometheus import PROMETHEUS, query, run_prometheus
from tests.procs import cli, scrape, start_collector, value


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (.ci/run installs it)")
def test_eighty_of_a_hundred_is_eighty_percent_everywhere(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    inventory = tmp_path / "assets.csv"
    hosts = [f"SIM-3-{i:05d}" for i in range(80)] + [f"spare-{i:02d}" for i in range(20)]
    inventory.write_text("hostname,site\n" + "".join(f"{h},north\n" for h in hosts))
    assert cli("fleetpulse-collector", "migrate", "--db", db).returncode == 0
    imported = cli("fleetpulse-collector", "inventory", "import", str(inventory), "--db", db)
    assert imported.returncode == 0 and "imported 100" in imported.stdout
    collector = start_collector(db, "--refresh-seconds", "0.2")
    try:
        token = cli(
            "fleetpulse-collector", "token", "create", "--site", "north", "--db", db
        ).stdout.strip()
        sim = cli(
            "fleetpulse-agent",
            "simulate",
            "--collector",
            collector.grpc,
            "--token",
            token,
            "--devices",
            "80",
            "--days",
            "1",
            "--seed",
            "3",
            timeout=120,
        )
        assert sim.returncode == 0, sim.stderr
        time.sleep(0.5)  # one fleet-state refresh
        samples = scrape(collector.metrics_url)
        enrolled = value(samples, "fleetpulse_devices", site="north")
        expected = value(samples, "fleetpulse_devices_expected", site="north")
        assert (enrolled, expected) == (80, 100)

        listed = cli("fleetpulse-collector", "devices", "--coverage", "--db", db)
        assert (
            "north: 80 of 100 expected devices enrolled (80.0%); never enrolled: 20"
            in listed.stdout
        )
        as_json = json.loads(
            cli(
                "fleetpulse-collector", "devices", "--coverage", "--format", "json", "--db", db
            ).stdout
        )
        assert as_json[0]["coverage"] == 0.8
        assert sorted(as_json[0]["never_enrolled"]) == hosts[80:]

        target = collector.metrics_url.split("//")[1].split("/")[0]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "fleetpulse-collector", "static_configs": [{"targets": [target]}]}
            ],
        }
        coverage = [
            e
            for uid, title, e in iter_panel_queries(variables=DEFAULT_VARIABLES)
            if (uid, title) == ("fleetpulse-rollout", "Coverage")
        ]
        assert len(coverage) == 1
        with run_prometheus(tmp_path / "prom", config) as base:
            deadline = time.monotonic() + 20
            result: list[dict[str, object]] = []
            while time.monotonic() < deadline and not result:
                status, body = query(base, coverage[0])
                assert status == 200, body
                result = body["data"]["result"]
                time.sleep(0.3)
        assert len(result) == 1
        assert float(result[0]["value"][1]) == pytest.approx(0.8)  # type: ignore[index]
    finally:
        collector.stop()
