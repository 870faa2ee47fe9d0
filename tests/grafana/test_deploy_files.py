"""The Grafana provisioning, the example Prometheus config and the compose file agree with
each other and with the collector's defaults. (Docker and Grafana do not run on the
development machines: these checks read the files.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.dashboards import DASHBOARD_DIR, REPO

GRAFANA = REPO / "grafana"
COLLECTOR_METRICS_PORT = 9464
SLO_WINDOW_DAYS = 28


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    config: dict[str, Any] = load(GRAFANA / "docker-compose.yml")
    return config


def mounts(service: str) -> dict[str, str]:
    """Container path -> host path (relative to grafana/) of a compose service."""
    found = {}
    for volume in compose()["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_datasource_provisioning_points_at_the_compose_prometheus() -> None:
    (source,) = load(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    scrape_interval = load(GRAFANA / "prometheus" / "prometheus.yml")["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape_interval


def test_dashboard_provider_reads_the_mounted_dashboards() -> None:
    (provider,) = load(GRAFANA / "provisioning" / "dashboards" / "fleetpulse.yml")["providers"]
    assert provider["type"] == "file"
    grafana_mounts = mounts("grafana")
    assert grafana_mounts[provider["options"]["path"]] == "./dashboards"
    assert (GRAFANA / "dashboards").resolve() == DASHBOARD_DIR.resolve()
    assert grafana_mounts["/etc/grafana/provisioning"] == "./provisioning"


def test_prometheus_scrapes_the_collector_default_port_and_loads_the_rules() -> None:
    config = load(GRAFANA / "prometheus" / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "fleetpulse-collector"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets and all(t.endswith(f":{COLLECTOR_METRICS_PORT}") for t in targets)
    assert config["rule_files"] == ["rules/*.yml"]
    assert mounts("prometheus")["/etc/prometheus"] == "./prometheus"


def test_compose_reaches_the_host_and_keeps_the_slo_window() -> None:
    prometheus = compose()["services"]["prometheus"]
    assert "host.docker.internal:host-gateway" in prometheus["extra_hosts"]
    flags = " ".join(prometheus["command"])
    retention = re.search(r"--storage\.tsdb\.retention\.time=(\d+)d", flags)
    assert retention and int(retention.group(1)) > SLO_WINDOW_DAYS
    assert "--config.file=/etc/prometheus/prometheus.yml" in flags


def test_collector_alert_uses_the_scrape_job_name() -> None:
    rules = (GRAFANA / "prometheus" / "rules" / "fleet_alerts.yml").read_text(encoding="utf-8")
    assert 'up{job="fleetpulse-collector"}' in rules
