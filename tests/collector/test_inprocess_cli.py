"""The ``fleetpulse-collector`` command line in process (typer's CliRunner): help, tokens,
settings, devices, usage errors, and user errors as one line on stderr."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetpulse.collector import cli
from fleetpulse.collector.errors import ConfigError
from fleetpulse.contract.records import BootRecord
from tests.inprocess import NOW, parts, report, signin

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str, BaseException | None]:
    result = runner.invoke(cli.app, list(args), prog_name="fleetpulse-collector")
    return result.exit_code, result.stdout, result.stderr, result.exception


def test_help_lists_the_commands() -> None:
    code, out, _, _ = run("--help")
    # plain click help, or rich's boxes when rich happens to be installed (dev tools)
    assert code == 0 and "Usage: fleetpulse-collector [OPTIONS] COMMAND" in out
    for command in ("serve", "token", "devices", "settings", "report", "inventory"):
        assert f" {command} " in out, command
    code, out, _, _ = run("token", "--help")
    assert code == 0 and " create " in out and " revoke " in out


def migrated(tmp_path: Path) -> str:
    """A database made by ``migrate``: no other command creates one."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, _, _, err = run("migrate", "--db", db)
    assert code == 0, err
    return db


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    db = migrated(tmp_path)
    code, out, _, _ = run("token", "create", "--site", " north ", "--db", db, "--max-uses", "3")
    token = out.strip()
    assert code == 0 and out.count("\n") == 1 and token.startswith("fpt_") and len(token) == 47
    code, out, _, _ = run("token", "create", "--site", "south", "--db", db, "--expires", "7d")
    assert code == 0
    code, listed, _, _ = run("token", "list", "--db", db)
    header, north, south = listed.splitlines()
    assert header.split() == ["ID", "SITE", "EXPIRES", "USES", "LAST", "USED", "REVOKED"]
    assert north.split()[1:] == ["north", "-", "0/3", "-", "-"]  # stripped site, no expiry
    expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 86400))
    assert south.split()[1:3] == ["south", expiry]
    assert token not in listed  # shown once, never listed
    token_id = north.split()[0]
    code, out, _, _ = run("token", "revoke", token_id, "--db", db)
    assert (code, out) == (0, f"revoked {token_id}\n")
    revoked = run("token", "list", "--db", db)[1].splitlines()[1]
    assert revoked.split()[-2] == time.strftime("%Y-%m-%d", time.gmtime())
    code, _, _, err = run("token", "revoke", token_id, "--db", db)
    assert code == 1 and isinstance(err, ConfigError)
    assert str(err) == f"no active token with id {token_id!r}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "create", "--site", " ", "--db", "sqlite:///{tmp}/c.db"], "--site must not"),
        (
            ["token", "create", "--site", "x", "--max-uses", "0", "--db", "sqlite:///{tmp}/c.db"],
            "--max-uses must be at least 1",
        ),
        (["token", "create", "--site", "x", "--db", "mysql://nope"], "--db must be sqlite:///"),
        (
            ["token", "create", "--site", "x", "--expires", "soon", "--db", "sqlite:///{tmp}/c.db"],
            "not a duration",
        ),
        (
            ["settings", "set", "colour=red", "--site", "*", "--db", "sqlite:///{tmp}/c.db"],
            "unknown setting 'colour'",
        ),
        (
            [
                "settings",
                "set",
                "report_interval_seconds=0",
                "--site",
                "*",
                "--db",
                "sqlite:///{tmp}/c.db",
            ],
            "report_interval_seconds='0': ",
        ),
        (
            [
                "settings",
                "set",
                "report_interval_seconds",
                "--site",
                "*",
                "--db",
                "sqlite:///{tmp}/c.db",
            ],
            "expected key=value",
        ),
        (["devices"], "--db is required"),
        (["devices", "--db", "sqlite:///{tmp}/c.db", "--format", "xml"], "table or json"),
        (["devices", "revoke", "nope", "--db", "sqlite:///{tmp}/c.db"], "no active device"),
    ],
)
def test_user_errors_are_collector_errors(tmp_path: Path, args: list[str], message: str) -> None:
    migrated(tmp_path)
    code, out, _, err = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 1 and out == ""
    assert isinstance(err, ConfigError) and message in str(err)
    assert "\n" not in str(err)


def test_a_missing_option_is_a_usage_error() -> None:
    code, _, err, _ = run("token", "create", "--db", "sqlite:///x.db")
    assert code == 2 and "Missing option '--site'" in err


def test_main_prints_one_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["fleetpulse-collector", "settings", "set", "signin_slo_seconds=-5", "--site", "*"]
    monkeypatch.setattr(sys, "argv", [*argv, "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("fleetpulse-collector: error: signin_slo_seconds='-5': ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_settings_set_then_show(tmp_path: Path) -> None:
    db = migrated(tmp_path)
    code, out, _, _ = run(
        "settings",
        "set",
        "report_interval_seconds=300",
        "app_allowlist=Excel",
        "--site",
        "north",
        "--db",
        db,
    )
    assert (code, out) == (0, "site north: report_interval_seconds=300, app_allowlist=Excel\n")
    assert run("settings", "set", "signin_slo_seconds=90", "--site", "*", "--db", db)[0] == 0
    rows = sorted(line.split() for line in run("settings", "show", "--db", db)[1].splitlines())
    assert rows == [
        ["*", "signin_slo_seconds", "90"],
        ["north", "app_allowlist", "Excel"],
        ["north", "report_interval_seconds", "300"],
    ]


def test_devices_lists_figures_unknowns_and_revocation(tmp_path: Path) -> None:
    p = parts(tmp_path)
    slow, idle = p.enroll("pc-001"), p.enroll("pc-idle")  # pc-001: the reports' FACTS
    records = [(1, signin("a", 95.0)), (2, BootRecord("boot-1", NOW - 900, 31.0))]
    asyncio.run(p.ingestor.report(report(slow.device_id, records), f"Device {slow.secret}"))
    p.close()
    db = f"sqlite:///{tmp_path / 'collector.db'}"

    code, out, _, _ = run("devices", "--db", db, "--format", "json")
    assert code == 0
    rows = {r["hostname"]: r for r in json.loads(out)}
    assert rows["pc-001"]["signins"] == 1 and rows["pc-001"]["last_boot_seconds"] == 31.0
    assert rows["pc-idle"]["p95_login_seconds"] is None  # unknown, not 0
    assert rows["pc-idle"]["site"] == "north"

    code, out, _, _ = run("devices", "--db", db, "--slowest", "5")
    [header, line] = out.splitlines()  # only devices with a p95 sign-in
    assert header.split()[:2] == ["DEVICE", "HOSTNAME"]
    assert line.split()[:6] == [slow.device_id, "pc-001", "north", "linux", "1", "95s"]

    code, out, _, _ = run("devices", "--db", db)
    idle_line = next(line for line in out.splitlines() if "pc-idle" in line)
    assert idle_line.split()[5:7] == ["unknown", "unknown"]

    assert run("devices", "revoke", idle.device_id, "--db", db)[:2] == (
        0,
        f"revoked {idle.device_id}\n",
    )
    out = run("devices", "--db", db)[1]
    assert next(line for line in out.splitlines() if "pc-idle" in line).endswith("(revoked)")
