"""Checks on PromQL text that a parser does not make: how fleetpulse metrics must be read."""

from __future__ import annotations

import re

from prometheus_client.utils import floatToGoString

from tests.grafana.dashboards import FLEET_STATE_GAUGES

DURATION_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600)
# le label values as the collector's prometheus-client renders them ("120.0", "+Inf").
DURATION_LE_VALUES = frozenset(
    [*(floatToGoString(b) for b in DURATION_BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]
)

_MAX_OPENING = re.compile(r"max\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(\s*$")
_LE_VALUE = re.compile(r"\ble\s*=~?\s*\"([^\"]*)\"")
_QUANTILE = re.compile(r"histogram_quantile\s*\(\s*[\d.]+\s*,\s*(\w+)(?:\s+by\s*\(([^)]*)\))?")
_RANGE = re.compile(r"\[([^\]:]+)\]")


def gauges_not_under_max(expr: str) -> list[str]:
    """Fleet-state gauges read without ``max``/``max by``/``max without`` directly around
    them: summing those across collector instances counts every device once per instance."""
    found = []
    for gauge in FLEET_STATE_GAUGES:
        for match in re.finditer(rf"\b{gauge}\b(?![a-z0-9_])", expr):
            if not _MAX_OPENING.search(expr[: match.start()]):
                found.append(gauge)
    return found


def le_values(expr: str) -> set[str]:
    return set(_LE_VALUE.findall(expr))


def quantiles_without_le(expr: str) -> list[str]:
    """histogram_quantile() calls whose inner aggregation does not keep ``le``."""
    bad = []
    for match in _QUANTILE.finditer(expr):
        aggregation, labels = match.group(1), match.group(2)
        kept = {label.strip() for label in (labels or "").split(",")}
        if aggregation != "rate" and "le" not in kept:
            bad.append(match.group(0))
    return bad


def range_windows(expr: str) -> list[str]:
    """Every range-selector window (``[5m]``, ``[$__rate_interval]``), subqueries excluded."""
    return [window.strip() for window in _RANGE.findall(expr)]
