"""The Linux backend on this very machine, with the real Env: whatever the machine lacks
(systemd as PID 1, a journal, a display) must come back unknown, never 0, never an error."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from fleetpulse.agent.platform.env import Env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from fleetpulse.agent.platform import _linux as linux


def systemd_is_init() -> bool:
    # sd_booted(): the manager creates this directory when it runs as PID 1.
    return Path("/run/systemd/system").is_dir()


def test_boot_record_on_this_machine():
    env = Env()
    boot = linux.boot_record(env)
    assert boot.boot_time == psutil.boot_time()
    assert boot.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    if systemd_is_init():
        # Finished boots have a total; each phase is a real, positive span.
        assert boot.total_seconds is None or boot.total_seconds > 0
        assert all(p.seconds >= 0 for p in boot.phases)
    else:
        # No systemd manager to ask (a container): duration and phases are unknown.
        assert boot.total_seconds is None
        assert boot.phases == ()
    assert env.problems.total == 0


def test_signins_crashes_foreground_and_facts_on_this_machine(tmp_path: Path):
    env = Env(state_dir=str(tmp_path))
    boot_time = psutil.boot_time()
    signins = linux.signin_observations(env, boot_time)
    for obs in signins:
        assert obs.started_at >= boot_time
        assert obs.shell_started_at is None or obs.shell_started_at > 0
    crashes = linux.crashes(env, time.time() - 3600)
    assert all("/" not in c.app for c in crashes)
    app = linux.foreground_app(env)
    assert app is None or (app and "/" not in app)
    facts = linux.os_facts(env)
    assert facts["os"] == "linux"
    assert facts["os_version"]  # every supported distribution ships os-release
    machine_id = Path("/etc/machine-id")
    if machine_id.is_file() and len(machine_id.read_text().strip()) == 32:
        assert facts["machine_id"] == machine_id.read_text().strip().lower()
    assert facts["form_factor"] in {"", "desktop", "laptop", "tablet"}
    assert facts["system_disk"] in {"", "ssd", "hdd"}
    for name in ("manufacturer", "model"):  # DMI text or unknown, never a placeholder
        assert len(facts[name]) <= 64 and facts[name].lower() != "to be filled by o.e.m."
    assert env.problems.total == 0
