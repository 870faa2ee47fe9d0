"""Linux backend: systemd for boot phases, logind/utmp for sign-ins, psutil for the rest."""

from __future__ import annotations

import platform as _platform

from agent.errors import SourceUnavailable
from agent.platform.env import Env
from agent.records import BootRecord, Crash, SigninObservation

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
MACHINE_ID_PATH = "/etc/machine-id"


def _boot_id(env: Env, boot_time: float) -> str:
    try:
        return env.read_bytes(BOOT_ID_PATH).decode("ascii", "replace").strip()
    except OSError:
        return f"boot-{int(boot_time)}"


def boot_record(env: Env) -> BootRecord:
    boot_time = float(env.ps.boot_time())
    return BootRecord(boot_id=_boot_id(env, boot_time), boot_time=boot_time)


def signin_observations(env: Env, boot_time: float) -> list[SigninObservation]:
    out = []
    for user in env.ps.users():
        if user.started < boot_time:
            continue
        out.append(
            SigninObservation(
                session_id=f"{user.terminal or 'session'}-{int(user.started)}",
                user=user.name,
                started_at=float(user.started),
            )
        )
    return out


def crashes(env: Env, since: float) -> list[Crash]:
    return []


def foreground_app(env: Env) -> str | None:
    return None


def os_facts(env: Env) -> dict[str, str]:
    try:
        machine_id = env.read_bytes(MACHINE_ID_PATH).decode("ascii", "replace").strip()
    except OSError:
        machine_id = ""
    try:
        release = env.read_bytes("/etc/os-release").decode("utf-8", "replace")
        fields = dict(
            line.split("=", 1) for line in release.splitlines() if "=" in line
        )
        version = fields.get("PRETTY_NAME", "").strip('"') or _platform.release()
    except (OSError, ValueError, SourceUnavailable):
        version = _platform.release()
    return {
        "os": "linux",
        "os_version": version,
        "machine_id": machine_id,
        "hardware_id": "",
        "form_factor": "",
    }
