"""Builders for a whole Grafana dashboard (schemaVersion 39): layout and variables."""

from __future__ import annotations

from .model import DATASOURCE, GRID_WIDTH, Json

SCHEMA_VERSION = 39


def layout(panels: list[Json]) -> list[Json]:
    """Give panels ids and positions: left to right, wrapping at the grid width; a row
    starts on a line of its own."""
    x = y = line_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        grid = panel["gridPos"]
        if panel["type"] == "row" or x + grid["w"] > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        grid["x"], grid["y"] = x, y
        panel["id"] = panel_id
        x += grid["w"]
        line_height = max(line_height, grid["h"])
        if panel["type"] == "row":
            x, y, line_height = 0, y + grid["h"], 0
    return panels


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> Json:
    """A label_values() variable. Multi-value ones include All as ".*" and are matched
    with =~ in queries."""
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "refresh": 2,
        "sort": 1,
        "regex": "",
        "hide": 0,
        "options": [],
        "skipUrlSync": False,
        "multi": multi,
        "includeAll": multi,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
    }
    if multi:
        variable["allValue"] = ".*"
    return variable


def custom_variable(name: str, label: str, values: list[str], default: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "current": {"selected": True, "text": default, "value": default},
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "skipUrlSync": False,
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    panels: list[Json],
    variables: list[Json],
    time_from: str = "now-24h",
    refresh: str = "1m",
) -> Json:
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "type": "dashboards",
                "title": "fleetpulse",
                "tags": ["fleetpulse"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "panels": layout(panels),
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["fleetpulse"],
        "templating": {"list": [datasource_variable(), *variables]},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
