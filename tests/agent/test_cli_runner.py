"""The ``fleetpulse-agent`` command line in process (typer's CliRunner): help, enroll
against an in-process collector, status, session-ready, usage errors, and user errors as
one line on stderr."""

from __future__ import annotations

import getpass
import json
import stat
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetpulse.agent import cli
from fleetpulse.agent.errors import ConfigError, EnrollmentError
from tests.inprocess import TOKEN, parts, serving_in_thread

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str, BaseException | None]:
    result = runner.invoke(cli.app, list(args), prog_name="fleetpulse-agent")
    return result.exit_code, result.stdout, result.stderr, result.exception


def test_help_lists_the_commands() -> None:
    code, out, _, _ = run("--help")
    assert code == 0 and "Usage: fleetpulse-agent [OPTIONS] COMMAND" in out
    for command in ("enroll", "once", "run", "status", "install", "uninstall", "doctor"):
        assert f" {command} " in out, command
    assert "session-ready" in out


def test_enroll_against_a_collector_then_status(tmp_path: Path) -> None:
    p = parts(tmp_path)
    state = tmp_path / "agent"
    try:
        with serving_in_thread(p) as address:
            refused = run(
                "enroll", "--collector", address, "--token", "fpt_bad", "--state-dir", str(state)
            )
            code, out, _, _ = run(
                "enroll", "--collector", address, "--token", TOKEN, "--state-dir", str(state)
            )
        [row] = p.store.device_rows(time.time())
    finally:
        p.close()
    assert refused[0] == 1 and isinstance(refused[3], EnrollmentError)
    assert "UNAUTHENTICATED" in str(refused[3])
    credential = state / "credentials.json"
    assert (code, out) == (
        0,
        f"enrolled as {row.device_id} (site north); credential in {credential}\n",
    )
    saved = json.loads(credential.read_text())
    assert (saved["device_id"], saved["collector"], saved["site"]) == (
        row.device_id,
        address,
        "north",
    )
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600  # the secret is the owner's only

    code, out, _, _ = run("status", "--state-dir", str(state))
    assert code == 0
    assert out.splitlines() == [
        f"device:    {row.device_id} (site north)",
        f"collector: {address}",
        f"spool:     none yet ({state / 'spool.db'})",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["once", "--state-dir", "{tmp}/none"], "not enrolled: {tmp}/none/credentials.json"),
        (["status", "--state-dir", "{tmp}/none"], "not enrolled"),
        (
            ["enroll", "--collector", "nohost", "--token", "x", "--state-dir", "{tmp}/a"],
            "collector address must be HOST:PORT, got 'nohost'",
        ),
    ],
)
def test_user_errors_are_config_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, _, err = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 1 and out == ""
    assert isinstance(err, ConfigError) and message.replace("{tmp}", str(tmp_path)) in str(err)
    assert "\n" not in str(err)
    assert not (tmp_path / "a").exists()  # nothing written for a refused enrollment


def test_a_missing_option_is_a_usage_error() -> None:
    code, _, err, _ = run("enroll", "--token", "x")
    assert code == 2 and "Missing option '--collector'" in err


def test_main_prints_one_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["fleetpulse-agent", "once", "--state-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"fleetpulse-agent: error: not enrolled: {tmp_path / 'credentials.json'} does not "
        "exist (run 'fleetpulse-agent enroll')\n"
    )


def test_session_ready_marks_the_desktop_usable(tmp_path: Path) -> None:
    before = time.time()
    code, out, _, _ = run("session-ready", "--state-dir", str(tmp_path))
    assert (code, out) == (0, "")
    marker = json.loads((tmp_path / "ready" / getpass.getuser()).read_text())
    assert before <= marker["at"] <= time.time()
