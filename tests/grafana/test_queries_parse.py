"""Every dashboard query and every rule expression is valid PromQL for a real Prometheus.

A Prometheus with nothing to scrape loads the rule files and answers each query; an
empty result is fine here (test_e2e_prometheus.py runs the same queries against a real
collector and wants data).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.grafana.dashboards import (
    DEFAULT_VARIABLES,
    iter_panel_queries,
    iter_variable_queries,
    substitute,
)
from tests.grafana.prometheus import get, query, requires_prometheus, run_prometheus
from tests.grafana.rules import rule_files, rules

pytestmark = requires_prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prometheus on a free loopback port, with the fleetpulse rules loaded."""
    config = {
        # A minimal config, nothing scraped.
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(path) for path in rule_files()],
    }
    with run_prometheus(tmp_path_factory.mktemp("prometheus"), config) as base:
        yield base


PANEL_QUERIES = list(iter_panel_queries(variables=DEFAULT_VARIABLES))
RULE_EXPRS = [(r.get("alert") or r["record"], r["expr"]) for r in rules()]


def variable_selector(query_text: str) -> str:
    """label_values(selector, label) -> selector, with the variables filled in."""
    match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query_text.strip())
    assert match, f"not a label_values() query: {query_text}"
    return substitute(match.group(1), DEFAULT_VARIABLES)


@pytest.mark.parametrize(
    ("uid", "title", "expr"), PANEL_QUERIES, ids=[f"{u}:{t}" for u, t, _ in PANEL_QUERIES]
)
def test_panel_query_parses(prometheus: str, uid: str, title: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert (status, body["status"]) == (200, "success"), body.get("error")
    assert body["data"]["resultType"] in {"vector", "scalar"}


@pytest.mark.parametrize(
    ("uid", "name", "text"),
    list(iter_variable_queries()),
    ids=[f"{u}:{n}" for u, n, _ in iter_variable_queries()],
)
def test_variable_query_parses(prometheus: str, uid: str, name: str, text: str) -> None:
    status, body = query(prometheus, variable_selector(text))
    assert (status, body["status"]) == (200, "success"), body.get("error")


@pytest.mark.parametrize(("name", "expr"), RULE_EXPRS, ids=[n for n, _ in RULE_EXPRS])
def test_rule_expr_parses(prometheus: str, name: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert (status, body["status"]) == (200, "success"), body.get("error")


def test_prometheus_loaded_every_rule(prometheus: str) -> None:
    status, body = get(f"{prometheus}/api/v1/rules")
    assert status == 200
    loaded = {rule["name"] for group in body["data"]["groups"] for rule in group["rules"]}
    assert loaded == {name for name, _ in RULE_EXPRS}


def test_a_broken_query_is_reported(prometheus: str) -> None:
    """The check can fail: Prometheus rejects what it cannot parse."""
    status, body = query(prometheus, "sum by (site (rate(fleetpulse_boots_total[5m]))")
    assert status == 400
    assert body["status"] == "error" and body["errorType"] == "bad_data"
