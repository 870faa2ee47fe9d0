"""Structural checks over every Grafana dashboard in grafana/dashboards/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from grafana import dashgen
from tests.grafana.dashboards import (
    DASHBOARD_DIR,
    DEFAULT_VARIABLES,
    KNOWN_METRICS,
    iter_panel_queries,
    iter_panels,
    load_dashboards,
    metric_names,
    recorded_names,
    substitute,
)
from tests.grafana.promql_lint import (
    DURATION_LE_VALUES,
    gauges_not_under_max,
    le_values,
    quantiles_without_le,
    range_windows,
)
from tests.grafana.rules import recording_rule_names

DASHBOARDS = load_dashboards()
BY_UID = {d["uid"]: d for d in DASHBOARDS}
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
PANELS_WITHOUT_DATA = {"row", "text"}

# Board -> its filter variables. The application metrics have only an app label; the
# per-device gauges have no OS label.
EXPECTED_VARIABLES = {
    "fleetpulse-fleet-overview": {"site", "os", "window"},
    "fleetpulse-signin-sla": {"site", "os", "window"},
    "fleetpulse-boot": {"site", "os"},
    "fleetpulse-applications": {"app", "top"},
    "fleetpulse-rollout": {"site", "os"},
    "fleetpulse-device": {"site", "hostname", "device_id"},
}
MULTI_VALUE_FILTERS = {"site", "os", "app"}
# Range windows that follow the scrape interval or the picked range, or fixed ones
# that say what they mean (an hour, a day, a week).
ALLOWED_WINDOWS = {"$__rate_interval", "$__range", "1h", "1d", "1w"}
GRAFANA_VARIABLES = {"__rate_interval", "__range", "__interval"}
VARIABLE_USE = re.compile(r"\$\{?(\w+)")


def panels() -> Iterator[tuple[str, dict[str, Any]]]:
    for dashboard in DASHBOARDS:
        for panel in iter_panels(dashboard):
            yield dashboard["uid"], panel


def raw_queries() -> Iterator[tuple[str, str, str]]:
    for uid, panel in panels():
        for query in panel.get("targets", []):
            yield uid, panel["title"], query["expr"]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every key of every object in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_the_six_boards_exist_with_unique_uids() -> None:
    uids = [d["uid"] for d in DASHBOARDS]
    assert sorted(uids) == sorted(EXPECTED_VARIABLES)
    assert len(set(uids)) == len(uids)
    assert all(len(uid) <= 40 for uid in uids), "Grafana limits uids to 40 characters"
    assert len({d["title"] for d in DASHBOARDS}) == len(DASHBOARDS)


def test_committed_json_is_what_the_generator_renders() -> None:
    assert dashgen.stale_files(DASHBOARD_DIR) == [], "run: python -m grafana.dashgen"


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_importable_shape(uid: str) -> None:
    dashboard = BY_UID[uid]
    assert dashboard["schemaVersion"] == 39
    assert dashboard["id"] is None, "an id ties the JSON to one Grafana database"
    assert "fleetpulse" in dashboard["tags"]
    assert dashboard["panels"], "no panels"
    ids = [p["id"] for p in iter_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_panels_fit_the_grid_without_overlapping(uid: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in iter_panels(BY_UID[uid]):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_datasource_is_a_prometheus_variable(uid: str) -> None:
    datasource = variables(BY_UID[uid]).get("datasource")
    assert datasource is not None, "no ${datasource} variable"
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    assert datasource["current"] == {}, "a current value pins one Grafana's data source"


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_no_hard_coded_datasource_anywhere(uid: str) -> None:
    refs = [(path, value) for path, key, value in walk(BY_UID[uid]) if key == "datasource"]
    assert refs, "nothing refers to a data source"
    wrong = [(path, value) for path, value in refs if value != DATASOURCE_REF]
    assert wrong == []


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_every_data_panel_and_query_uses_the_variable(uid: str) -> None:
    for panel in iter_panels(BY_UID[uid]):
        if panel["type"] in PANELS_WITHOUT_DATA:
            assert "targets" not in panel, panel["title"]
            continue
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for query in panel["targets"]:
            assert query["datasource"] == DATASOURCE_REF, panel["title"]
            assert query["expr"].strip(), panel["title"]


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_every_data_panel_has_a_unit(uid: str) -> None:
    for panel in iter_panels(BY_UID[uid]):
        if panel["type"] in PANELS_WITHOUT_DATA:
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit, f"{panel['title']} has no unit"


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_filter_variables(uid: str) -> None:
    found = variables(BY_UID[uid])
    assert set(found) == {"datasource", *EXPECTED_VARIABLES[uid]}
    for name in EXPECTED_VARIABLES[uid] & MULTI_VALUE_FILTERS:
        variable = found[name]
        assert variable["type"] == "query"
        assert variable["query"].startswith("label_values("), name
        assert variable["datasource"] == DATASOURCE_REF
        assert variable["multi"] and variable["includeAll"], name
        assert variable["allValue"] == ".*", name


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_variables_in_queries_are_defined_and_regex_matched(uid: str) -> None:
    defined = set(variables(BY_UID[uid])) | GRAFANA_VARIABLES
    for _, title, expr in (q for q in raw_queries() if q[0] == uid):
        used = set(VARIABLE_USE.findall(expr))
        assert used <= defined, f"{title}: undefined {used - defined}"
        # A label compared with a multi-value variable must use =~ ("a|b", ".*").
        for operator, name in re.findall(r'(=~|!~|!=|=)\s*"\$\{?(\w+)', expr):
            if name in MULTI_VALUE_FILTERS | {"hostname", "device_id"}:
                assert operator == "=~", f"{title}: ${name} compared with {operator}"


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_filters_are_applied(uid: str) -> None:
    """A board with a site/os filter applies it wherever the metric has that label."""
    with_label = {
        "site": [m for m in KNOWN_METRICS if m in SITE_METRICS],
        "os": [m for m in KNOWN_METRICS if m in OS_METRICS],
    }
    for label in EXPECTED_VARIABLES[uid] & {"site", "os"}:
        for _, title, expr in (q for q in raw_queries() if q[0] == uid):
            for metric in metric_names(expr) & set(with_label[label]):
                if (uid, title) in IGNORE_OS_ON_PURPOSE and label == "os":
                    continue
                if (uid, title) in IGNORE_SITE_ON_PURPOSE and label == "site":
                    continue
                pattern = rf"\b{metric}(?:_bucket|_sum|_count)?(?![a-z0-9_])(\{{[^}}]*\}})?"
                for selector in re.findall(pattern, expr):
                    assert f'{label}=~"${label}"' in selector, f"{title}: {metric} ignores ${label}"


# Shares of the inventory, which has no OS: an OS filter on one side only would lie.
IGNORE_OS_ON_PURPOSE = {
    ("fleetpulse-fleet-overview", "Devices reporting / expected"),
    ("fleetpulse-rollout", "Coverage"),
    ("fleetpulse-rollout", "Sites"),
}
# The fleet-wide SLO figure (the board's top row says so): a site filter would change it.
IGNORE_SITE_ON_PURPOSE = {("fleetpulse-signin-sla", "Compliance, 28 days")}
SITE_METRICS = {
    "fleetpulse_login_duration_seconds",
    "fleetpulse_boot_duration_seconds",
    "fleetpulse_boots_total",
    "fleetpulse_logins_in_progress",
    "fleetpulse_login_in_progress_longest_seconds",
    "fleetpulse_devices",
    "fleetpulse_devices_expected",
    "fleetpulse_devices_unused",
    "fleetpulse_wait_seconds_total",
    "fleetpulse_device_last_login_seconds",
    "fleetpulse_device_last_boot_seconds",
    "fleetpulse_device_last_seen_timestamp_seconds",
    "fleetpulse_login_in_progress_over_threshold",
    "fleetpulse_logins_long_ended_last_hour",
    "fleetpulse_login_window_signins",
    "fleetpulse_login_window_known_duration",
    "fleetpulse_login_window_within_slo",
    "fleetpulse_login_window_long",
    "fleetpulse_login_window_seconds",
}
OS_METRICS = {
    "fleetpulse_login_duration_seconds",
    "fleetpulse_login_phase_duration_seconds",
    "fleetpulse_boot_duration_seconds",
    "fleetpulse_boot_phase_duration_seconds",
    "fleetpulse_boots_total",
    "fleetpulse_logins_long_ended_last_hour",
}


def test_queries_name_only_known_metrics_and_recorded_series() -> None:
    recorded = recording_rule_names()
    used_metrics: set[str] = set()
    for uid, title, expr in raw_queries():
        names = metric_names(expr)
        assert names <= set(KNOWN_METRICS), f"{uid} / {title}: {names - set(KNOWN_METRICS)}"
        assert recorded_names(expr) <= recorded, f"{uid} / {title}: not recorded"
        assert names or recorded_names(expr) or "up{" in expr, f"{uid} / {title}: no metric"
        used_metrics |= names
    # Every metric the collector exposes is on some board.
    assert used_metrics == set(KNOWN_METRICS)


def test_every_board_query_reads_gauges_with_max_and_histograms_by_le() -> None:
    for uid, title, expr in raw_queries():
        assert gauges_not_under_max(expr) == [], f"{uid} / {title}"
        assert quantiles_without_le(expr) == [], f"{uid} / {title}"
        assert le_values(expr) <= DURATION_LE_VALUES, f"{uid} / {title}: {le_values(expr)}"


def test_rate_windows_are_sane() -> None:
    for uid, title, expr in raw_queries():
        windows = set(range_windows(expr))
        assert windows <= ALLOWED_WINDOWS, f"{uid} / {title}: {windows - ALLOWED_WINDOWS}"
        if re.search(r"\brate\(", expr):
            assert windows, f"{uid} / {title}: rate without a window"


def test_iter_panel_queries_yields_every_query_with_variables_filled_in() -> None:
    queries = list(iter_panel_queries(DASHBOARD_DIR, DEFAULT_VARIABLES))
    assert len(queries) == sum(1 for _ in raw_queries())
    assert {uid for uid, _, _ in queries} == set(BY_UID)
    for uid, title, expr in queries:
        assert "$" not in expr and "[[" not in expr, f"{uid} / {title}: {expr}"
    overview = [
        e for u, t, e in queries if u == "fleetpulse-fleet-overview" and t == "Within 120 s"
    ]
    assert overview and 'site=~".*"' in overview[0] and 'window="7d"' in overview[0]
    phases = [
        e for u, t, e in queries if u == "fleetpulse-signin-sla" and t == "Mean time per phase"
    ]
    assert phases and "[1h]" in phases[0]


def test_iter_panel_queries_uses_the_given_values() -> None:
    values = {**DEFAULT_VARIABLES, "site": "hq|branch", "__range": "7d"}
    queries = [e for _, _, e in iter_panel_queries(DASHBOARD_DIR, values)]
    assert any('site=~"hq|branch"' in e and "[7d]" in e for e in queries)
    assert not any('site=~".*"' in e for e in queries)


def test_iter_panel_queries_refuses_to_guess_a_missing_variable() -> None:
    values = {k: v for k, v in DEFAULT_VARIABLES.items() if k != "site"}
    with pytest.raises(KeyError, match=r"\$site"):
        list(iter_panel_queries(DASHBOARD_DIR, values))


def test_substitute_knows_grafana_variable_syntaxes() -> None:
    values = {"site": "hq", "__range": "1h"}
    assert substitute('x{site=~"$site"}[$__range]', values) == 'x{site=~"hq"}[1h]'
    assert substitute('x{site=~"${site}"}', values) == 'x{site=~"hq"}'
    assert substitute('x{site=~"${site:regex}"}', values) == 'x{site=~"hq"}'
    assert substitute('x{site=~"[[site]]"}', values) == 'x{site=~"hq"}'


def test_metric_names_maps_histogram_series_to_their_family() -> None:
    expr = (
        "sum(rate(fleetpulse_login_duration_seconds_bucket[5m])) / "
        "sum(rate(fleetpulse_app_launches_total[5m])) + fleetpulse:login_sla_good:ratio_rate5m"
    )
    assert metric_names(expr) == {
        "fleetpulse_login_duration_seconds",
        "fleetpulse_app_launches_total",
    }
    assert metric_names("fleetpulse_devices_count") == {"fleetpulse_devices_count"}
