"""config.toml values out of range are refused at load, with the names and ranges the
collector's central settings use; `run` and `once` stop on one line, `doctor` says FAIL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetpulse.agent.config import AgentConfig
from fleetpulse.agent.doctor import diagnose
from fleetpulse.agent.errors import ConfigError
from fleetpulse.collector import validation
from fleetpulse.collector.errors import ConfigError as CollectorConfigError
from fleetpulse.collector.settings import parse_setting
from fleetpulse.contract.setting_ranges import RANGES, REPORT_MAX_RECORDS
from tests.procs import cli


def _load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return AgentConfig.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval_seconds = 0", "interval_seconds must be 1..86400 seconds, got 0"),
        ("report_interval_seconds = 0", "report_interval_seconds must be 1..86400 seconds, got 0"),
        ("report_interval_seconds = -5", "must be 1..86400 seconds, got -5"),
        ("report_interval_seconds = 86401", "must be 1..86400 seconds, got 86401"),
        ("report_interval_seconds = 1.5", "must be a whole number (1..86400 seconds), got 1.5"),
        ("report_interval_seconds = nan", "must be 1..86400 seconds, got nan"),
        ("report_interval_seconds = inf", "must be 1..86400 seconds, got inf"),
        ("batch_records = 5001", "batch_records must be 1..5000 records, got 5001"),
        ("batch_records = 0", "batch_records must be 1..5000 records, got 0"),
        ("batch_records = 10.5", "batch_records must be a whole number"),
        ("deadline_seconds = 0", "deadline_seconds must be 1..300 seconds, got 0"),
        ("spool_max_bytes = 10", "spool_max_bytes must be 1048576..1099511627776 bytes, got 10"),
        ("responsive_cpu_percent = 101", "responsive_cpu_percent must be 1..100 percent"),
        ("responsive_quiet_seconds = 0", "responsive_quiet_seconds must be 0.5..3600 seconds"),
        ("boot_settle_seconds = -1", "boot_settle_seconds must be 0..86400 seconds"),
        ("app_top_n = -1", "app_top_n must be 0..100000 apps, got -1"),
        ("batch_records = true", "batch_records must be a number (1..5000 records), got True"),
        (
            "interval_seconds = 5\nreport_interval_seconds = 5",
            "set report_interval_seconds or interval_seconds (its older name), not both",
        ),
    ],
)
def test_out_of_range_values_are_refused_naming_file_setting_and_range(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text + "\n")
    assert str(err.value).startswith(f"{tmp_path / 'config.toml'}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_values_at_the_edges_are_taken(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        "interval_seconds = 1\nbatch_records = 5000\nboot_settle_seconds = 0\n"
        "app_top_n = 0\ndeadline_seconds = 300\n",
    )
    assert cfg.report_interval_seconds == 1.0
    assert cfg.batch_records == 5000 and isinstance(cfg.batch_records, int)
    assert cfg.boot_settle_seconds == 0.0
    assert _load(tmp_path, "report_interval_seconds = 86400\n").report_interval_seconds == 86400


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"report_interval_seconds must be 1\.\.86400 seconds"):
        AgentConfig(report_interval_seconds=0)
    AgentConfig()  # every default is within its range


def test_agent_and_collector_share_names_ranges_and_the_record_limit() -> None:
    # the collector's central setting of the same name refuses what the agent refuses ...
    with pytest.raises(CollectorConfigError, match=r"must be 1\.\.86400 seconds, got 0"):
        parse_setting("report_interval_seconds", "0")
    assert parse_setting("report_interval_seconds", "86400") == 86400
    # ... and the largest batch an agent may configure is what the collector takes
    assert RANGES["batch_records"].high == REPORT_MAX_RECORDS == validation.MAX_RECORDS
    assert "report_interval_seconds" in {f for f in AgentConfig.__dataclass_fields__}


def _enrolled(tmp_path: Path, config: str) -> Path:
    state = tmp_path / "agent"
    state.mkdir()
    (state / "credentials.json").write_text(
        json.dumps(
            {
                "device_id": "dev-1",
                "device_secret": "s",
                "collector": "127.0.0.1:1",
                "site": "hq",
                "user_hash_key": "00" * 32,
            }
        )
    )
    (state / "credentials.json").chmod(0o600)
    (state / "config.toml").write_text(config)
    return state


@pytest.mark.parametrize("command", ["run", "once"])
def test_run_and_once_stop_with_one_line(tmp_path: Path, command: str) -> None:
    state = _enrolled(tmp_path, "interval_seconds = 0\n")
    done = cli("fleetpulse-agent", command, "--state-dir", str(state), timeout=30)
    assert done.returncode == 1
    assert done.stderr == (
        f"fleetpulse-agent: error: {state / 'config.toml'}: "
        "interval_seconds must be 1..86400 seconds, got 0\n"
    )
    assert not (state / "spool.db").exists()  # stopped before doing anything


def test_doctor_fails_the_config_line(tmp_path: Path) -> None:
    state = _enrolled(tmp_path, "batch_records = 6000\n")
    [config] = [c for c in diagnose(state) if c.name == "config"]
    assert config.line() == (
        f"FAIL config: {state / 'config.toml'}: batch_records must be 1..5000 records, "
        f"got 6000 — fix: correct or delete {state / 'config.toml'} (every setting has a "
        "default)"
    )
