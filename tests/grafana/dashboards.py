"""Reads the Grafana dashboards the way Grafana would, for tests: panels, queries with
template variables filled in, and the fleetpulse metric names those queries use.

``iter_panel_queries`` is shared with the end-to-end test that runs every panel query
against a Prometheus scraping a real collector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
RULES_DIR = REPO / "grafana" / "prometheus" / "rules"

# What the collector exposes (the contract in PRODUCT.md section 3, plus extras), by type.
KNOWN_METRICS: dict[str, str] = {
    "fleetpulse_login_duration_seconds": "histogram",  # site, os
    "fleetpulse_login_phase_duration_seconds": "histogram",  # os, phase
    "fleetpulse_boot_duration_seconds": "histogram",  # site, os
    "fleetpulse_boot_phase_duration_seconds": "histogram",  # os, phase
    "fleetpulse_boots_total": "counter",  # site, os, boot_type, degraded
    "fleetpulse_logins_in_progress": "gauge",  # site
    "fleetpulse_login_in_progress_longest_seconds": "gauge",  # site
    "fleetpulse_app_foreground_seconds_total": "counter",  # app
    "fleetpulse_app_launches_total": "counter",  # app
    "fleetpulse_app_crashes_total": "counter",  # app
    "fleetpulse_devices": "gauge",  # site, os, agent_version, state
    "fleetpulse_devices_expected": "gauge",  # site
    "fleetpulse_devices_unused": "gauge",  # site
    "fleetpulse_wait_seconds_total": "counter",  # site, kind
    "fleetpulse_ingest_records_total": "counter",  # kind, result
    "fleetpulse_ingest_lag_seconds": "histogram",  # kind
    "fleetpulse_agent_dropped_records_total": "counter",  # kind
    "fleetpulse_device_last_login_seconds": "gauge",  # device_id, hostname, site
    "fleetpulse_device_last_boot_seconds": "gauge",  # device_id, hostname, site
    "fleetpulse_device_last_seen_timestamp_seconds": "gauge",  # device_id, hostname, site
    "fleetpulse_device_last_login_contributor_seconds": "gauge",  # ... kind, name
    "fleetpulse_login_contributor_seconds_total": "counter",  # kind, name
    "fleetpulse_boot_culprit_seconds_total": "counter",  # kind, name
    "fleetpulse_login_in_progress_over_threshold": "gauge",  # site, hostname, device_id
    "fleetpulse_logins_long_ended_last_hour": "gauge",  # site, os
    "fleetpulse_login_window_end_timestamp_seconds": "gauge",  # (none)
    "fleetpulse_login_window_signins": "gauge",  # window, site
    "fleetpulse_login_window_known_duration": "gauge",  # window, site
    "fleetpulse_login_window_within_slo": "gauge",  # window, site
    "fleetpulse_login_window_long": "gauge",  # window, site
    "fleetpulse_login_window_seconds": "gauge",  # window, site, quantile
    "fleetpulse_login_window_fleet_seconds": "gauge",  # window, quantile
    "fleetpulse_model_devices": "gauge",  # manufacturer, model
    "fleetpulse_model_devices_hdd": "gauge",  # manufacturer, model
    "fleetpulse_model_devices_disk_known": "gauge",  # manufacturer, model
    "fleetpulse_model_logins": "gauge",  # manufacturer, model
    "fleetpulse_model_login_seconds": "gauge",  # manufacturer, model, quantile
    "fleetpulse_model_boot_seconds": "gauge",  # manufacturer, model, quantile
}

# Gauges every collector instance computes from the shared database: aggregate them with
# max (by their own labels), never sum them across instances.
FLEET_STATE_GAUGES = frozenset(name for name, kind in KNOWN_METRICS.items() if kind == "gauge")

HISTOGRAM_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")

# Values that turn every panel query into plain PromQL: every site, OS, app, device;
# Grafana's own interval variables at plausible values.
DEFAULT_VARIABLES: dict[str, str] = {
    "site": ".*",
    "os": ".*",
    "app": ".*",
    "hostname": ".*",
    "device_id": ".*",
    "top": "10",
    "window": "7d",
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
}

# $name, ${name}, ${name:format} and the old [[name]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_METRIC_NAME = re.compile(r"\bfleetpulse_[a-z0-9_]+")
_RECORDED_NAME = re.compile(r"\bfleetpulse:[a-z0-9_:]+")


def load_dashboards(dashboard_dir: Path = DASHBOARD_DIR) -> list[dict[str, Any]]:
    """Every dashboard JSON in the folder, in file-name order."""
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(Path(dashboard_dir).glob("*.json"))
    ]


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Fill in template variables as Grafana would; an unknown variable is an error (a
    query the caller cannot run as written)."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in variables:
            raise KeyError(f"no value given for variable ${name} in: {expr}")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def iter_panel_queries(
    dashboard_dir: Path = DASHBOARD_DIR,
    variables: Mapping[str, str] = DEFAULT_VARIABLES,
) -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query of every panel, with the
    template variables replaced by ``variables`` (see DEFAULT_VARIABLES for the names
    the boards use). The data source is a variable too, but it is never part of a query.
    """
    for dashboard in load_dashboards(dashboard_dir):
        for panel in iter_panels(dashboard):
            for query in panel.get("targets", []):
                if query.get("hide"):
                    continue
                yield dashboard["uid"], panel["title"], substitute(query["expr"], variables)


def iter_variable_queries(
    dashboard_dir: Path = DASHBOARD_DIR,
) -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, variable name, query) for every query-type template variable."""
    for dashboard in load_dashboards(dashboard_dir):
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                yield dashboard["uid"], variable["name"], text


def metric_names(expr: str) -> set[str]:
    """The fleetpulse metric families an expression reads (``_bucket``/``_sum``/``_count``
    series mapped to their histogram)."""
    names = set()
    for name in _METRIC_NAME.findall(expr):
        for suffix in HISTOGRAM_SERIES_SUFFIXES:
            base = name.removesuffix(suffix)
            if base != name and KNOWN_METRICS.get(base) == "histogram":
                name = base
                break
        names.add(name)
    return names


def recorded_names(expr: str) -> set[str]:
    """The fleetpulse recording-rule series (``fleetpulse:...``) an expression reads."""
    return set(_RECORDED_NAME.findall(expr))
