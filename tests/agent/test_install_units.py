"""The pieces install assembles: quoting in unit and desktop files, Windows task and ACL
commands with real Windows paths, and unpacking a single-file artifact."""

from __future__ import annotations

import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePath, PureWindowsPath

from fleetpulse.agent.install import windows
from fleetpulse.agent.install.commands import Recorder, ServiceError, run_command, run_steps, step
from fleetpulse.agent.install.program import (
    console_program,
    launcher_program,
    running_artifact,
    unpack,
)
from fleetpulse.agent.install.systemd import autostart_text, desktop_quote, systemd_quote, unit_text


def test_systemd_quoting_keeps_spaces_percent_and_dollar_literal() -> None:
    assert systemd_quote("/usr/bin/agent") == "/usr/bin/agent"
    assert systemd_quote("/opt/my agent/x") == '"/opt/my agent/x"'
    assert systemd_quote("50%") == "50%%"
    assert systemd_quote("a$b") == "a$$b"
    unit = unit_text(["/opt/my agent/fleetpulse-agent"], Path("/var/lib/fleet pulse"))
    assert (
        'ExecStart="/opt/my agent/fleetpulse-agent" run --state-dir "/var/lib/fleet pulse"'
        in unit.splitlines()
    )
    assert 'ReadWritePaths="/var/lib/fleet pulse"' in unit.splitlines()


def test_desktop_exec_quoting_follows_the_spec() -> None:
    assert desktop_quote("/usr/bin/x") == "/usr/bin/x"
    assert desktop_quote("/opt/a b") == '"/opt/a b"'
    assert desktop_quote("100%") == "100%%"
    # a quoted "$" is escaped with a backslash, and the backslash doubled in the string
    assert desktop_quote("/opt/$x y") == '"/opt/\\\\$x y"'
    entry = autostart_text(["/opt/a b/agent"], PurePath("/var/lib/fleetpulse"))
    assert 'Exec="/opt/a b/agent" session-ready --state-dir /var/lib/fleetpulse' in entry


def test_windows_task_arguments_and_acls_use_windows_paths() -> None:
    state = PureWindowsPath(r"C:\ProgramData\fleetpulse")
    xml = windows.agent_task_xml(
        [
            r"C:\Program Files\Python311\python.exe",
            "-I",
            r"C:\Program Files\fleetpulse\fleetpulse-agent.py",
        ],
        state,
    )
    assert "<Command>C:\\Program Files\\Python311\\python.exe</Command>" in xml
    assert (
        '<Arguments>-I "C:\\Program Files\\fleetpulse\\fleetpulse-agent.py" run '
        "--state-dir C:\\ProgramData\\fleetpulse</Arguments>"
    ) in xml
    steps = windows.permission_steps(state, state / "ready", state / "foreground")
    assert [list(s.argv) for s in steps] == [
        [
            "icacls",
            r"C:\ProgramData\fleetpulse",
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "*S-1-5-32-545:(RX)",
        ],
        [
            "icacls",
            r"C:\ProgramData\fleetpulse\ready",
            "/grant:r",
            "*S-1-5-32-545:(RX,WD)",
            "*S-1-3-0:(OI)(IO)M",
        ],
        [
            "icacls",
            r"C:\ProgramData\fleetpulse\foreground",
            "/grant:r",
            "*S-1-5-32-545:(RX,WD)",
            "*S-1-3-0:(OI)(IO)M",
        ],
    ]
    assert windows.encode_task("<a/>").decode("utf-16") == "<a/>"


def test_windows_foreground_task_keeps_one_helper_running_in_each_session() -> None:
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    xml = windows.foreground_task_xml(
        [r"C:\Program Files\Python311\pythonw.exe", "-I", r"C:\Program Files\fleetpulse\fp.py"],
        PureWindowsPath(r"C:\ProgramData\fleetpulse"),
    )
    task = ET.fromstring(xml.split("?>", 1)[1])

    def text(path: str) -> str | None:
        return task.findtext(path, namespaces=ns)

    assert text("t:RegistrationInfo/t:URI") == r"\fleetpulse\foreground"
    # each user's logon starts it in that user's session, without elevation
    assert task.find("t:Triggers/t:LogonTrigger", ns) is not None
    assert task.find("t:Triggers/t:LogonTrigger/t:UserId", ns) is None
    assert text("t:Principals/t:Principal/t:GroupId") == "S-1-5-32-545"
    assert text("t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    # started again every 5 minutes after logon: an ended helper is back, a running one
    # makes the new start exit at once (its session lock)
    assert text("t:Triggers/t:LogonTrigger/t:Repetition/t:Interval") == "PT5M"
    assert text("t:Triggers/t:LogonTrigger/t:Repetition/t:StopAtDurationEnd") == "false"
    assert task.find("t:Triggers/t:LogonTrigger/t:Repetition/t:Duration", ns) is None
    assert text("t:Settings/t:MultipleInstancesPolicy") == "Parallel"  # one per user
    assert text("t:Settings/t:ExecutionTimeLimit") == "PT0S"  # no time limit
    assert text("t:Settings/t:RestartOnFailure/t:Interval") == "PT1M"
    assert text("t:Settings/t:RestartOnFailure/t:Count") == "999"
    assert text("t:Settings/t:DisallowStartIfOnBatteries") == "false"
    assert text("t:Settings/t:StopIfGoingOnBatteries") == "false"
    assert text("t:Settings/t:IdleSettings/t:StopOnIdleEnd") == "false"
    assert text("t:Settings/t:Hidden") == "true"
    assert task.get("version") == "1.2"
    assert task.find("t:Actions", ns).get("Context") == "Users"  # type: ignore[union-attr]
    assert text("t:Actions/t:Exec/t:Command") == r"C:\Program Files\Python311\pythonw.exe"
    assert text("t:Actions/t:Exec/t:Arguments") == (
        '-I "C:\\Program Files\\fleetpulse\\fp.py" foreground '
        "--state-dir C:\\ProgramData\\fleetpulse"
    )


def test_step_failures_stop_unless_allowed() -> None:
    seen: list[list[str]] = []

    def runner(argv: object) -> None:
        seen.append(list(argv))  # type: ignore[call-overload]
        if seen[-1][0] == "bad":
            raise ServiceError("bad failed")

    run_steps([step("bad", may_fail=True), step("good")], runner)
    assert seen == [["bad"], ["good"]]
    try:
        run_steps([step("bad"), step("never")], runner)
    except ServiceError as exc:
        assert "bad failed" in str(exc)
    assert seen[-1] == ["bad"]


def test_real_runner_reports_the_exit_status_and_message(tmp_path: Path) -> None:
    run_command([sys.executable, "-c", "pass"])
    try:
        run_command([sys.executable, "-c", "import sys; sys.exit('no such unit')"])
        raise AssertionError("expected a ServiceError")
    except ServiceError as exc:
        assert "exited 1: no such unit" in str(exc)
    try:
        run_command([str(tmp_path / "missing-tool")])
        raise AssertionError("expected a ServiceError")
    except ServiceError as exc:
        assert "missing-tool" in str(exc)


def test_recorder_appends_json_lines(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "cmds.jsonl")
    rec(["systemctl", "daemon-reload"])
    rec(("schtasks", "/Run", "/TN", r"\fleetpulse\agent"))
    assert Recorder.read(tmp_path / "cmds.jsonl") == [
        ["systemctl", "daemon-reload"],
        ["schtasks", "/Run", "/TN", r"\fleetpulse\agent"],
    ]


def _artifact(path: Path, body: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__main__.py", "raise SystemExit('not used')\n")
        zf.writestr("site-packages/fleetpulse/agent/__init__.py", "")
        zf.writestr(
            "site-packages/fleetpulse/agent/launcher.py", f"def main():\n    print({body!r})\n"
        )
    return path


def test_unpack_is_idempotent_and_the_launcher_runs_the_unpacked_code(tmp_path: Path) -> None:
    art = _artifact(tmp_path / "fleetpulse-agent.pyz", "first")
    prog_dir = tmp_path / "lib" / "fleetpulse"
    assert running_artifact(str(art)) == art
    assert running_artifact(sys.argv[0] if sys.argv[0].endswith(".pyz") else "/bin/sh") is None
    assert unpack(art, prog_dir) is True
    assert unpack(art, prog_dir) is False
    assert (
        stat.S_IMODE(
            (prog_dir / "site-packages" / "fleetpulse" / "agent" / "launcher.py").stat().st_mode
        )
        == 0o644
    )
    prog = launcher_program(prog_dir, sys.executable)
    assert prog.argv == (sys.executable, "-I", str(prog_dir / "fleetpulse-agent.py"))
    ran = subprocess.run(list(prog.argv), capture_output=True, text=True, timeout=30, check=False)
    assert ran.stdout.strip() == "first", ran.stderr

    _artifact(art, "second")  # an upgrade: a new artifact replaces the unpacked code
    assert unpack(art, prog_dir) is True
    ran = subprocess.run(list(prog.argv), capture_output=True, text=True, timeout=30, check=False)
    assert ran.stdout.strip() == "second", ran.stderr
    assert sorted(p.name for p in prog_dir.iterdir()) == [
        "artifact.sha256",
        "fleetpulse-agent.py",
        "site-packages",
    ]


def test_console_program_is_the_absolute_script(tmp_path: Path) -> None:
    script = tmp_path / "fleetpulse-agent"
    script.write_text("#!/bin/sh\n")
    assert console_program(str(script)).argv == (str(script),)
    py = tmp_path / "cli.py"
    assert console_program(str(py), "/usr/bin/python3").argv == ("/usr/bin/python3", str(py))
    exe = tmp_path / "Scripts" / "fleetpulse-agent.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ")
    assert console_program(str(exe.with_suffix(""))).argv == (str(exe),)
