"""install/uninstall against a real collector process; the service manager's commands are
recorded by the runner (the documented boundary) instead of being run."""

from __future__ import annotations

import json
import plistlib
import shutil
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent.config import Credentials
from fleetpulse.agent.doctor import PingError, ping
from fleetpulse.agent.errors import ConfigError, EnrollmentError
from fleetpulse.agent.install import Options, Recorder, ServiceError, install, layout_for, uninstall
from fleetpulse.agent.install.program import Program
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.facts import device_facts
from tests.procs import CollectorProc, cli, start_collector

PROGRAM = Program(("/opt/fp/bin/fleetpulse-agent",), ("/opt/fp/bin/fleetpulse-agent",))


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProc]:
    db = f"sqlite:///{tmp_path_factory.mktemp('collector') / 'c.db'}"
    c = start_collector(db)
    yield c
    c.stop()


def token(c: CollectorProc, site: str = "hq") -> str:
    made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", c.db)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def devices(c: CollectorProc) -> list[dict[str, object]]:
    done = cli("fleetpulse-collector", "devices", "--db", c.db, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_linux_install_writes_config_credential_unit_and_autostart(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("linux", tmp_path)
    rec = Recorder()
    out = install(Options(collector.grpc, token(collector)), layout, rec, PROGRAM)

    state = tmp_path / "var/lib/fleetpulse"
    creds = Credentials.load(state)
    assert out.enrolled and out.device_id == creds.device_id and out.site == "hq"
    assert creds.collector == collector.grpc
    assert mode(state / "credentials.json") == 0o600
    assert mode(state) == 0o755
    assert mode(state / "ready") == 0o1777
    assert (state / "config.toml").read_text().startswith("# fleetpulse agent settings")

    unit = (tmp_path / "etc/systemd/system/fleetpulse-agent.service").read_text()
    lines = set(unit.splitlines())
    assert f"ExecStart=/opt/fp/bin/fleetpulse-agent run --state-dir {state}" in lines
    assert f"ReadWritePaths={state}" in lines
    for hardening in (
        "Restart=on-failure",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "MemoryMax=128M",
        "CPUQuota=5%",
        "Nice=10",
        "WantedBy=multi-user.target",
    ):
        assert hardening in lines, hardening
    entry = (tmp_path / "etc/xdg/autostart/fleetpulse-session-ready.desktop").read_text()
    assert (
        f"Exec=/opt/fp/bin/fleetpulse-agent session-ready --state-dir {state}" in entry.splitlines()
    )
    assert rec.calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "fleetpulse-agent.service"],
        ["systemctl", "restart", "fleetpulse-agent.service"],
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_passes_systemd_verify_and_its_security_threshold(
    collector: CollectorProc, tmp_path: Path
) -> None:
    agent = shutil.which("fleetpulse-agent", path=str(Path(sys.executable).parent))
    assert agent is not None
    prog = Program((agent,), (agent,))
    install(
        Options(collector.grpc, token(collector)), layout_for("linux", tmp_path), Recorder(), prog
    )
    unit = tmp_path / "etc/systemd/system/fleetpulse-agent.service"
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    # exposure 0.0 (locked down) .. 10.0 (unsafe); the unit scores 2.6 ("OK")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stdout[-400:]


def test_second_install_changes_nothing_and_does_not_enroll_again(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("linux", tmp_path)
    first = install(Options(collector.grpc, token(collector)), layout, Recorder(), PROGRAM)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    rec = Recorder()
    again = install(Options(collector.grpc, token(collector)), layout, rec, PROGRAM)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    assert again.changes == [] and not again.enrolled
    assert again.device_id == first.device_id
    assert after == before
    assert rec.calls == [["systemctl", "enable", "--now", "fleetpulse-agent.service"]]


def test_upgrade_rewrites_the_unit_and_restarts(collector: CollectorProc, tmp_path: Path) -> None:
    layout = layout_for("linux", tmp_path)
    opts = Options(collector.grpc, token(collector))
    install(opts, layout, Recorder(), PROGRAM)
    newer = Program(("/opt/fp2/bin/fleetpulse-agent",), ("/opt/fp2/bin/fleetpulse-agent",))
    rec = Recorder()
    out = install(opts, layout, rec, newer)
    assert out.changes == [f"wrote {layout.unit}", f"wrote {layout.autostart}"]
    assert rec.calls[0] == ["systemctl", "daemon-reload"]
    assert rec.calls[-1] == ["systemctl", "restart", "fleetpulse-agent.service"]
    assert "ExecStart=/opt/fp2/bin/fleetpulse-agent run" in layout.unit.read_text()


def test_no_start_enables_without_starting(collector: CollectorProc, tmp_path: Path) -> None:
    rec = Recorder()
    install(
        Options(collector.grpc, token(collector), start=False),
        layout_for("linux", tmp_path),
        rec,
        PROGRAM,
    )
    assert rec.calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "fleetpulse-agent.service"],
    ]


def _wait_refused(creds: Credentials) -> None:
    facts = device_facts(Env())
    end = time.monotonic() + 15
    while time.monotonic() < end:
        try:
            ping(creds, facts)
        except PingError as exc:
            assert exc.code == "UNAUTHENTICATED"
            return
        time.sleep(0.5)
    raise AssertionError("revoked credential still accepted")


def test_revoked_device_enrolls_again_with_the_new_token(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("linux", tmp_path)
    first = install(Options(collector.grpc, token(collector)), layout, Recorder(), PROGRAM)
    revoked = cli(
        "fleetpulse-collector", "devices", "revoke", first.device_id, "--db", collector.db
    )
    assert revoked.returncode == 0, revoked.stderr
    _wait_refused(Credentials.load(layout.state_dir))
    again = install(Options(collector.grpc, token(collector)), layout, Recorder(), PROGRAM)
    assert again.enrolled and again.device_id != first.device_id
    assert Credentials.load(layout.state_dir).device_id == again.device_id


def test_moving_site_enrolls_again_and_wrong_site_token_fails(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("linux", tmp_path)
    first = install(Options(collector.grpc, token(collector, "hq")), layout, Recorder(), PROGRAM)
    moved = install(
        Options(collector.grpc, token(collector, "north"), site="north"),
        layout,
        Recorder(),
        PROGRAM,
    )
    assert moved.enrolled and moved.site == "north" and moved.device_id != first.device_id
    kept = (layout.state_dir / "credentials.json").read_bytes()
    enrolled = len(devices(collector))
    rec = Recorder()
    with pytest.raises(
        EnrollmentError,
        match=r"FAILED_PRECONDITION: .* belongs to site 'hq', "
        r"not 'south'",
    ):
        install(Options(collector.grpc, token(collector, "hq"), site="south"), layout, rec, PROGRAM)
    assert rec.calls == []  # no service (re)started on a failed enrollment
    # refused before enrolling: the north credential is untouched, no device was added
    assert (layout.state_dir / "credentials.json").read_bytes() == kept
    assert len(devices(collector)) == enrolled


def test_bad_token_fails_enrollment_and_registers_nothing(
    collector: CollectorProc, tmp_path: Path
) -> None:
    rec = Recorder()
    with pytest.raises(EnrollmentError, match="UNAUTHENTICATED"):
        install(
            Options(collector.grpc, "fpt_not-a-token"), layout_for("linux", tmp_path), rec, PROGRAM
        )
    assert rec.calls == []
    assert not (tmp_path / "etc/systemd/system/fleetpulse-agent.service").exists()
    assert not (tmp_path / "var/lib/fleetpulse/credentials.json").exists()


def test_unreachable_collector_keeps_the_existing_credential(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    layout = layout_for("linux", tmp_path / "root")
    try:
        first = install(Options(c.grpc, token(c)), layout, Recorder(), PROGRAM)
    finally:
        c.stop()
    again = install(Options(c.grpc, "fpt_unused"), layout, Recorder(), PROGRAM)
    assert again.changes == [] and again.device_id == first.device_id


def test_failing_service_command_raises_service_error(
    collector: CollectorProc, tmp_path: Path
) -> None:
    def refuse(argv: object) -> None:
        raise ServiceError("'systemctl daemon-reload' exited 1: System has not been booted")

    with pytest.raises(ServiceError, match="not been booted"):
        install(
            Options(collector.grpc, token(collector)),
            layout_for("linux", tmp_path),
            refuse,
            PROGRAM,
        )


def test_tls_material_is_copied_in_and_bad_inputs_are_user_errors(
    collector: CollectorProc, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="go together"):
        install(
            Options(collector.grpc, "t", client_cert=tmp_path / "c.pem"),
            layout_for("linux", tmp_path),
            Recorder(),
            PROGRAM,
        )
    with pytest.raises(ConfigError, match="cannot read CA certificate"):
        install(
            Options(collector.grpc, "t", ca_cert=tmp_path / "missing.pem"),
            layout_for("linux", tmp_path),
            Recorder(),
            PROGRAM,
        )
    with pytest.raises(ConfigError, match="HOST:PORT"):
        install(Options("nohost", "t"), layout_for("linux", tmp_path), Recorder(), PROGRAM)
    assert list(tmp_path.iterdir()) == []  # nothing written before the inputs are checked


def test_uninstall_removes_what_install_created(collector: CollectorProc, tmp_path: Path) -> None:
    (tmp_path / "etc/systemd/system").mkdir(parents=True)  # as on a real system
    layout = layout_for("linux", tmp_path)
    install(Options(collector.grpc, token(collector)), layout, Recorder(), PROGRAM)
    rec = Recorder()
    uninstall(layout, rec)
    assert rec.calls == [
        ["systemctl", "disable", "--now", "fleetpulse-agent.service"],
        ["systemctl", "daemon-reload"],
    ]
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["etc", "etc/systemd", "etc/systemd/system"]
    again = Recorder()
    assert uninstall(layout, again) == [] and again.calls == []


def test_uninstall_keep_data_keeps_the_credential(collector: CollectorProc, tmp_path: Path) -> None:
    layout = layout_for("linux", tmp_path)
    out = install(Options(collector.grpc, token(collector)), layout, Recorder(), PROGRAM)
    uninstall(layout, Recorder(), keep_data=True)
    assert Credentials.load(layout.state_dir).device_id == out.device_id
    assert not layout.unit.exists() and not layout.autostart.exists()
    assert not layout.manifest.exists()


def test_windows_install_registers_tasks_with_exact_commands(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("windows", tmp_path)
    prog = Program(
        (r"C:\Python311\python.exe", "-I", r"C:\Program Files\fleetpulse\fp.py"),
        (r"C:\Python311\pythonw.exe", "-I", r"C:\Program Files\fleetpulse\fp.py"),
    )
    rec = Recorder()
    install(Options(collector.grpc, token(collector)), layout, rec, prog)
    state, ready = tmp_path / "ProgramData/fleetpulse", tmp_path / "ProgramData/fleetpulse/ready"
    agent_xml = tmp_path / "Program Files/fleetpulse/agent-task.xml"
    session_xml = tmp_path / "Program Files/fleetpulse/session-ready-task.xml"
    foreground_xml = tmp_path / "Program Files/fleetpulse/foreground-task.xml"
    helpers = tmp_path / "ProgramData/fleetpulse/foreground"
    assert rec.calls == [
        [
            "icacls",
            str(state),
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "*S-1-5-32-545:(RX)",
        ],
        ["icacls", str(ready), "/grant:r", "*S-1-5-32-545:(RX,WD)", "*S-1-3-0:(OI)(IO)M"],
        ["icacls", str(helpers), "/grant:r", "*S-1-5-32-545:(RX,WD)", "*S-1-3-0:(OI)(IO)M"],
        ["schtasks", "/Create", "/TN", r"\fleetpulse\agent", "/XML", str(agent_xml), "/F"],
        [
            "schtasks",
            "/Create",
            "/TN",
            r"\fleetpulse\session-ready",
            "/XML",
            str(session_xml),
            "/F",
        ],
        [
            "schtasks",
            "/Create",
            "/TN",
            r"\fleetpulse\foreground",
            "/XML",
            str(foreground_xml),
            "/F",
        ],
        ["schtasks", "/End", "/TN", r"\fleetpulse\agent"],
        ["schtasks", "/End", "/TN", r"\fleetpulse\foreground"],
        ["schtasks", "/Run", "/TN", r"\fleetpulse\agent"],
    ]
    assert helpers.is_dir()
    assert agent_xml.read_bytes()[:2] == b"\xff\xfe"  # UTF-16 LE with its byte-order mark
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ET.fromstring(agent_xml.read_bytes().decode("utf-16").split("?>", 1)[1])
    assert task.findtext("t:Principals/t:Principal/t:UserId", namespaces=ns) == "S-1-5-18"
    assert task.find("t:Triggers/t:BootTrigger", ns) is not None
    # started again within 5 minutes after any exit; a running instance ignores the trigger
    assert (
        task.findtext("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", namespaces=ns) == "PT5M"
    )
    assert task.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=ns) == "IgnoreNew"
    assert task.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=ns) == "PT0S"
    assert task.findtext("t:Settings/t:RestartOnFailure/t:Interval", namespaces=ns) == "PT1M"
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == r"C:\Python311\python.exe"
    assert task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns) == (
        f'-I "C:\\Program Files\\fleetpulse\\fp.py" run --state-dir {state}'
    )
    session = ET.fromstring(session_xml.read_bytes().decode("utf-16").split("?>", 1)[1])
    assert session.findtext("t:Principals/t:Principal/t:GroupId", namespaces=ns) == "S-1-5-32-545"
    assert session.find("t:Triggers/t:LogonTrigger", ns) is not None
    assert session.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == (
        r"C:\Python311\pythonw.exe"
    )
    assert "session-ready" in (
        session.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns) or ""
    )
    helper = ET.fromstring(foreground_xml.read_bytes().decode("utf-16").split("?>", 1)[1])
    assert helper.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == (
        r"C:\Python311\pythonw.exe"
    )
    assert helper.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns) == (
        f'-I "C:\\Program Files\\fleetpulse\\fp.py" foreground --state-dir {state}'
    )

    again = Recorder()
    install(Options(collector.grpc, token(collector)), layout, again, prog)
    assert again.calls == [["schtasks", "/Run", "/TN", r"\fleetpulse\agent"]]
    rm = Recorder()
    uninstall(layout, rm)
    assert rm.calls == [
        ["schtasks", "/End", "/TN", r"\fleetpulse\foreground"],
        ["schtasks", "/End", "/TN", r"\fleetpulse\agent"],
        ["schtasks", "/Delete", "/TN", r"\fleetpulse\agent", "/F"],
        ["schtasks", "/Delete", "/TN", r"\fleetpulse\session-ready", "/F"],
        ["schtasks", "/Delete", "/TN", r"\fleetpulse\foreground", "/F"],
    ]
    assert list(tmp_path.iterdir()) == []


def test_macos_install_writes_plists_and_bootstraps(
    collector: CollectorProc, tmp_path: Path
) -> None:
    layout = layout_for("macos", tmp_path)
    rec = Recorder()
    install(Options(collector.grpc, token(collector)), layout, rec, PROGRAM)
    daemon = tmp_path / "Library/LaunchDaemons/org.fleetpulse.agent.plist"
    agent = tmp_path / "Library/LaunchAgents/org.fleetpulse.session-ready.plist"
    state = tmp_path / "var/lib/fleetpulse"
    d = plistlib.loads(daemon.read_bytes())
    assert d["ProgramArguments"] == [PROGRAM.argv[0], "run", "--state-dir", str(state)]
    assert d["RunAtLoad"] is True and d["KeepAlive"] == {"SuccessfulExit": False}
    a = plistlib.loads(agent.read_bytes())
    assert a["ProgramArguments"][1:] == ["session-ready", "--state-dir", str(state)]
    assert a["LimitLoadToSessionType"] == ["Aqua"]
    assert rec.calls == [
        ["launchctl", "bootout", "system/org.fleetpulse.agent"],
        ["launchctl", "enable", "system/org.fleetpulse.agent"],
        ["launchctl", "bootstrap", "system", str(daemon)],
        ["launchctl", "kickstart", "system/org.fleetpulse.agent"],
    ]
    rm = Recorder()
    uninstall(layout, rm)
    assert rm.calls == [
        ["launchctl", "bootout", "system/org.fleetpulse.agent"],
        ["launchctl", "disable", "system/org.fleetpulse.agent"],
    ]
    assert list(tmp_path.iterdir()) == []
