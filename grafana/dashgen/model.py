"""Builders for Grafana panels and their queries.

Every panel and query points at the ``${datasource}`` variable, never at a data source
uid, so a board imports into any Grafana and follows whichever Prometheus is chosen.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Json:
    """One PromQL query. Instant queries feed stats, bar gauges and tables."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
    }


def steps(*pairs: tuple[str, float | None]) -> Json:
    """Absolute thresholds: ("green", None), ("red", 600) ..."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for color, value in pairs],
    }


NEUTRAL = steps(("text", None))


def _panel(
    kind: str,
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str,
    w: int,
    h: int,
    defaults: Json | None = None,
    overrides: list[Json] | None = None,
    options: Json | None = None,
    interval: str | None = None,
) -> Json:
    panel: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "fieldConfig": {
            "defaults": {"unit": unit, **(defaults or {})},
            "overrides": overrides or [],
        },
        "options": options or {},
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
    }
    if interval:
        panel["interval"] = interval
    return panel


def timeseries(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str,
    w: int = 12,
    h: int = 8,
    thresholds: Json | None = None,
    threshold_line: bool = False,
    stack: bool = False,
    bars: bool = False,
    step: bool = False,
    min_value: float | None = 0,
    max_value: float | None = None,
    interval: str | None = None,
    overrides: list[Json] | None = None,
) -> Json:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineInterpolation": "stepAfter" if step else "linear",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else (25 if stack else 10),
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if threshold_line else "off"},
    }
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "thresholds": thresholds or steps(("green", None)),
    }
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries",
        title,
        targets,
        unit=unit,
        description=description,
        w=w,
        h=h,
        defaults=defaults,
        options=options,
        interval=interval,
        overrides=overrides,
    )


def stat(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str,
    thresholds: Json = NEUTRAL,
    w: int = 4,
    h: int = 4,
    decimals: int | None = None,
    graph: bool = False,
) -> Json:
    defaults: Json = {"color": {"mode": "thresholds"}, "thresholds": thresholds}
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "colorMode": "value",
        "graphMode": "area" if graph else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    return _panel(
        "stat",
        title,
        targets,
        unit=unit,
        description=description,
        w=w,
        h=h,
        defaults=defaults,
        options=options,
    )


def bargauge(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str,
    thresholds: Json | None = None,
    w: int = 12,
    h: int = 8,
    min_value: float | None = 0,
    max_value: float | None = None,
    decimals: int | None = None,
) -> Json:
    defaults: Json = {
        "color": {"mode": "thresholds" if thresholds else "continuous-BlPu"},
        "thresholds": thresholds or steps(("blue", None)),
    }
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showUnfilled": True,
        "valueMode": "color",
    }
    return _panel(
        "bargauge",
        title,
        targets,
        unit=unit,
        description=description,
        w=w,
        h=h,
        defaults=defaults,
        options=options,
    )


def piechart(
    title: str, targets: list[Json], *, unit: str, description: str, w: int = 6, h: int = 8
) -> Json:
    options = {
        "legend": {
            "displayMode": "table",
            "placement": "right",
            "showLegend": True,
            "values": ["value", "percent"],
        },
        "pieType": "donut",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return _panel(
        "piechart",
        title,
        targets,
        unit=unit,
        description=description,
        w=w,
        h=h,
        defaults={"color": {"mode": "palette-classic"}},
        options=options,
    )


def column_unit(column: str, unit: str) -> Json:
    """A field override giving one table column its own unit."""
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "unit", "value": unit}],
    }


def table(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str,
    labels: list[str],
    values: list[str],
    w: int = 24,
    h: int = 8,
    overrides: list[Json] | None = None,
    sort_by: str | None = None,
) -> Json:
    """A table of instant queries (one per value column) merged on their labels.
    ``labels`` are the label columns, shown first; ``values`` name the queries' values."""
    value_columns = (
        ["Value"]
        if len(targets) == 1
        else [f"Value #{chr(ord('A') + i)}" for i in range(len(targets))]
    )
    rename = dict(zip(value_columns, values, strict=True))
    order = {name: i for i, name in enumerate([*labels, *value_columns])}
    transformations: list[Json] = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True},
                "indexByName": order,
                "renameByName": rename,
            },
        },
    ]
    options: Json = {
        "cellHeight": "sm",
        "showHeader": True,
        "footer": {"show": False, "reducer": ["sum"], "fields": ""},
    }
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    table_targets = [{**t, "format": "table", "instant": True, "range": False} for t in targets]
    panel = _panel(
        "table",
        title,
        table_targets,
        unit=unit,
        description=description,
        w=w,
        h=h,
        defaults={"custom": {"align": "auto", "filterable": True}},
        overrides=overrides,
        options=options,
    )
    panel["transformations"] = transformations
    return panel


def text(title: str, content: str, *, w: int = 24, h: int = 3) -> Json:
    return {
        "type": "text",
        "title": title,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "options": {"mode": "markdown", "content": content},
    }


def row(title: str) -> Json:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": 0},
        "panels": [],
    }
