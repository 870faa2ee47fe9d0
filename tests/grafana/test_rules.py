"""The Prometheus rules: promtool checks and unit tests, and what every rule must carry."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.promql_lint import DURATION_LE_VALUES, gauges_not_under_max, le_values
from tests.grafana.rules import (
    PROMETHEUS_DIR,
    alert_rules,
    load,
    recording_rule_names,
    rule_files,
    rule_test_files,
    rules,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package prometheus; .ci/run installs it)",
)
RUNBOOK = PROMETHEUS_DIR.parent / "RUNBOOK.md"
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_there_are_rules_and_unit_tests() -> None:
    assert [p.name for p in rule_files()] == ["fleet_alerts.yml", "login_slo.yml"]
    assert len(rule_test_files()) >= 2


@needs_promtool
@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_check_config_of_the_example() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The config's rule_files glob finds both rule files.
    assert f"SUCCESS: {len(rule_files())} rule files found" in result.stdout


@needs_promtool
@pytest.mark.parametrize("path", rule_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests(path: Path) -> None:
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_unit_tests_catch_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests really evaluate the rules: a wrong expected value fails them."""
    source = PROMETHEUS_DIR / "tests" / "fleet_alerts_test.yml"
    text = source.read_text(encoding="utf-8")
    assert "'4 device(s) at hq" in text
    broken = tmp_path / "broken_test.yml"
    broken.write_text(
        text.replace("../rules/", f"{PROMETHEUS_DIR / 'rules'}/").replace(
            "'4 device(s) at hq", "'8 device(s) at hq"
        ),
        encoding="utf-8",
    )
    result = promtool("test", "rules", str(broken))
    assert result.returncode != 0
    assert "FleetpulseDevicesSilent" in result.stdout + result.stderr


def alert_tests() -> list[tuple[str, bool]]:
    """(alertname, expects it firing) for every alert_rule_test case in the unit tests."""
    cases = []
    for path in rule_test_files():
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], bool(case.get("exp_alerts"))))
    return cases


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = set(alert_tests())
    for rule in alert_rules():
        name = rule["alert"]
        assert (name, True) in cases, f"{name} is never tested firing"
        assert (name, False) in cases, f"{name} is never tested staying quiet"
    tested = {name for name, _ in cases}
    assert tested <= {rule["alert"] for rule in alert_rules()}, "a test names no alert"


def test_every_recording_rule_value_is_tested() -> None:
    checked = set()
    for path in rule_test_files():
        for test in load(path)["tests"]:
            for case in test.get("promql_expr_test", []):
                if case.get("exp_samples"):
                    checked.add(case["expr"].strip())
    missing = recording_rule_names() - checked
    assert missing == set(), f"recording rules without a tested value: {sorted(missing)}"


def test_unit_tests_load_every_rule_file() -> None:
    loaded = {
        (PROMETHEUS_DIR / "tests" / f).resolve()
        for path in rule_test_files()
        for f in load(path)["rule_files"]
    }
    assert loaded == {p.resolve() for p in rule_files()}


def test_recording_rules_follow_the_naming_convention() -> None:
    for name in recording_rule_names():
        assert re.fullmatch(r"fleetpulse:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_sli_windows_are_recorded() -> None:
    names = recording_rule_names()
    for window in ("5m", "30m", "1h", "6h", "3d", "28d"):
        assert f"fleetpulse:login_sla_good:ratio_rate{window}" in names
        assert f"fleetpulse:login_sla_burn_rate:rate{window}" in names
    assert "fleetpulse:login_sla_objective:ratio" in names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_carries_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Fleetpulse")
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), f"no {key}"
    # runbook_url is a link (the annotation Alertmanager and Grafana show as one), not prose
    assert "runbook" not in annotations, "prose belongs in RUNBOOK.md"
    anchor = re.fullmatch(r"grafana/RUNBOOK\.md#([a-z0-9-]+)", annotations["runbook_url"])
    assert anchor, "runbook_url is not a link to a RUNBOOK.md section"
    headings = re.findall(r"^#+ (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert anchor.group(1) in {h.strip().lower() for h in headings}, "no such runbook section"


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rule_reads_gauges_with_max_and_existing_buckets(rule: dict[str, Any]) -> None:
    assert gauges_not_under_max(rule["expr"]) == []
    assert le_values(rule["expr"]) <= DURATION_LE_VALUES


def test_multiwindow_burn_rate_alerts_match_the_slo_policy() -> None:
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    policy = {
        "FleetpulseLoginSLOFastBurn": ("1h", "5m", "14.4"),
        "FleetpulseLoginSLOMediumBurn": ("6h", "30m", "6"),
        "FleetpulseLoginSLOSlowBurn": ("3d", "6h", "1"),
    }
    for name, (long, short, factor) in policy.items():
        expr = " ".join(by_name[name]["expr"].split())
        assert expr == (
            f"fleetpulse:login_sla_burn_rate:rate{long} > {factor} and "
            f"fleetpulse:login_sla_burn_rate:rate{short} > {factor}"
        ), name
    objective = next(
        r for r in rules() if r.get("record") == "fleetpulse:login_sla_objective:ratio"
    )
    assert objective["expr"] == "vector(0.95)"


def test_rule_files_are_plain_yaml_with_unique_group_names() -> None:
    groups = [group["name"] for path in rule_files() for group in load(path)["groups"]]
    assert len(groups) == len(set(groups))
    for path in rule_files():
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
