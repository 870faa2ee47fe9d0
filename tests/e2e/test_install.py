"""Acceptance: the install/doctor/uninstall commands as separate processes against a live
collector, with the service manager's commands recorded (FLEETPULSE_INSTALL_RECORD)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from fleetpulse.agent.install.commands import RECORD_ENV, Recorder
from tests.procs import BIN, CollectorProc, cli, start_collector

UNIT = "etc/systemd/system/fleetpulse-agent.service"
AUTOSTART = "etc/xdg/autostart/fleetpulse-session-ready.desktop"
STATE = "var/lib/fleetpulse"


def _token(c: CollectorProc, site: str = "hq") -> str:
    made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", c.db)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _devices(c: CollectorProc) -> list[dict[str, object]]:
    done = cli("fleetpulse-collector", "devices", "--db", c.db, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(p.relative_to(root)): (
            p.stat().st_mtime_ns,
            stat.S_IMODE(p.stat().st_mode),
            p.read_bytes(),
        )
        for p in root.rglob("*")
        if p.is_file()
    }


def test_install_doctor_uninstall(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)  # present on any systemd machine
    record = tmp_path / "commands.jsonl"
    env = {RECORD_ENV: str(record)}
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        args = ["install", "--collector", c.grpc, "--token", _token(c), "--root", str(root)]
        first = cli("fleetpulse-agent", *args, env=env)
        assert first.returncode == 0, first.stderr
        assert first.stderr == ""
        assert first.stdout.startswith("installed: device ")

        state = root / STATE
        unit = (root / UNIT).read_text().splitlines()
        assert f"ExecStart={BIN / 'fleetpulse-agent'} run --state-dir {state}" in unit
        assert f"ReadWritePaths={state}" in unit
        for line in (
            "Restart=on-failure",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "MemoryMax=128M",
            "CPUQuota=5%",
        ):
            assert line in unit, line
        desktop = (root / AUTOSTART).read_text().splitlines()
        assert f"Exec={BIN / 'fleetpulse-agent'} session-ready --state-dir {state}" in desktop
        creds = json.loads((state / "credentials.json").read_text())
        assert creds["collector"] == c.grpc and creds["site"] == "hq"
        assert stat.S_IMODE((state / "credentials.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "ready").stat().st_mode) == 0o1777
        written = (state / "config.toml").read_text().splitlines()
        assert "# report_interval_seconds = 60.0" in written
        assert Recorder.read(record) == [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "fleetpulse-agent.service"],
            ["systemctl", "restart", "fleetpulse-agent.service"],
        ]
        assert [d["device_id"] for d in _devices(c)] == [creds["device_id"]]

        # the same command again (a new token, as a deployment tool would pass): no change
        before = _snapshot(root)
        record.unlink()
        args[args.index("--token") + 1] = _token(c)
        second = cli("fleetpulse-agent", *args, env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == (
            f"already installed: device {creds['device_id']} (site hq), nothing changed"
        )
        assert _snapshot(root) == before
        assert Recorder.read(record) == [
            ["systemctl", "enable", "--now", "fleetpulse-agent.service"]
        ]
        assert len(_devices(c)) == 1

        ok = cli("fleetpulse-agent", "doctor", "--state-dir", str(state))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        out = ok.stdout.splitlines()
        assert out and all(line.startswith("OK ") for line in out), ok.stdout
        for name in (
            "config",
            "state-dir",
            "credentials",
            "dns",
            "tcp",
            "tls",
            "credential",
            "clock",
            "source boot",
        ):
            assert any(line.startswith(f"OK {name}: ") for line in out), name
    finally:
        c.stop()

    down = cli("fleetpulse-agent", "doctor", "--state-dir", str(state))
    assert down.returncode == 1
    assert (
        f"FAIL tcp: cannot connect to {c.grpc} (Connection refused) — fix: start the "
        "collector or check the address/firewall"
    ) in down.stdout.splitlines()

    record.unlink()
    gone = cli("fleetpulse-agent", "uninstall", "--root", str(root), env=env)
    assert gone.returncode == 0, gone.stderr
    assert Recorder.read(record) == [
        ["systemctl", "disable", "--now", "fleetpulse-agent.service"],
        ["systemctl", "daemon-reload"],
    ]
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert left == ["etc", "etc/systemd", "etc/systemd/system"]
    again = cli("fleetpulse-agent", "uninstall", "--root", str(root), env=env)
    assert again.returncode == 0 and again.stdout.strip() == "not installed: nothing to remove"


def test_exit_codes(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    record = {RECORD_ENV: str(tmp_path / "commands.jsonl")}
    try:
        bad_address = cli(
            "fleetpulse-agent",
            "install",
            "--collector",
            "nohost",
            "--token",
            "t",
            "--root",
            str(tmp_path / "r1"),
            env=record,
        )
        assert bad_address.returncode == 1
        assert bad_address.stderr.strip().splitlines() == [
            "fleetpulse-agent: error: collector address must be HOST:PORT, got 'nohost'"
        ]

        bad_token = cli(
            "fleetpulse-agent",
            "install",
            "--collector",
            c.grpc,
            "--token",
            "fpt_wrong",
            "--root",
            str(tmp_path / "r2"),
            env=record,
        )
        assert bad_token.returncode == 2
        lines = bad_token.stderr.strip().splitlines()
        assert len(lines) == 1 and "enrollment at" in lines[0] and "UNAUTHENTICATED" in lines[0]
        assert not (tmp_path / "r2" / UNIT).exists()

        # a service manager that refuses (systemctl without systemd as init)
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "systemctl").write_text(
            "#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1).'"
            " >&2\nexit 1\n"
        )
        (fake / "systemctl").chmod(0o755)
        path = {"PATH": f"{fake}{os.pathsep}{os.environ.get('PATH', '')}"}
        refused = cli(
            "fleetpulse-agent",
            "install",
            "--collector",
            c.grpc,
            "--token",
            _token(c),
            "--root",
            str(tmp_path / "r3"),
            env=path,
        )
        assert refused.returncode == 3
        assert refused.stderr.strip().splitlines() == [
            "fleetpulse-agent: error: service registration failed: 'systemctl daemon-reload' "
            "exited 1: System has not been booted with systemd as init system (PID 1)."
        ]
        # the machine is enrolled and configured: fixing systemd and rerunning finishes it
        assert (tmp_path / "r3" / STATE / "credentials.json").exists()
        rerun = cli(
            "fleetpulse-agent",
            "install",
            "--collector",
            c.grpc,
            "--token",
            "fpt_x",
            "--root",
            str(tmp_path / "r3"),
            env=record,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert len(_devices(c)) == 1
        # no file changed, yet the steps systemd refused are redone
        assert Recorder.read(tmp_path / "commands.jsonl") == [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "fleetpulse-agent.service"],
            ["systemctl", "restart", "fleetpulse-agent.service"],
        ]
    finally:
        c.stop()
