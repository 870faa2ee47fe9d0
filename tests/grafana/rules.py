"""Reads the Prometheus rule files and their promtool unit tests (YAML) for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.grafana.dashboards import REPO, RULES_DIR

PROMETHEUS_DIR = REPO / "grafana" / "prometheus"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every group of every rule file."""
    return [
        rule for path in rule_files() for group in load(path)["groups"] for rule in group["rules"]
    ]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recording_rule_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}
