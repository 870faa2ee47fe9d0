"""macOS backend, basic: boot time from ``kern.boottime``, sign-ins from utmpx (psutil).

Boot duration, sign-in phases, crashes, the foreground app and the system disk's media are
not measured here yet: they stay unknown (``None`` / empty), never 0.
"""

from __future__ import annotations

import re

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.platform.smbios import system_string
from fleetpulse.contract.records import BootRecord, Crash, SigninObservation

# `sysctl -n kern.boottime` prints "{ sec = 1772438400, usec = 250000 } Mon Mar  2 ...".
_BOOTTIME = re.compile(r"sec\s*=\s*(\d+)\s*,\s*usec\s*=\s*(\d+)")
_PLATFORM_UUID = re.compile(r'"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]+)"')


def _run(env: Env, argv: list[str]) -> str | None:
    try:
        return env.run(argv)
    except (SourceUnavailable, OSError):
        return None


def parse_boottime(text: str) -> float | None:
    m = _BOOTTIME.search(text)
    return None if m is None else int(m.group(1)) + int(m.group(2)) / 1_000_000


def _boot_time(env: Env) -> float:
    text = _run(env, ["sysctl", "-n", "kern.boottime"])
    parsed = parse_boottime(text) if text is not None else None
    if parsed is None:
        if text is not None:
            env.problems.skip("macos.sysctl", "kern.boottime not in { sec, usec } form")
        return float(env.ps.boot_time())
    return parsed


def boot_record(env: Env) -> BootRecord:
    boot_time = _boot_time(env)
    # kern.bootsessionuuid is set once per boot, like Linux's boot_id. kern.boottime is
    # not fixed: XNU's clock_set_calendar_microtime shifts it by every clock step, so the
    # fallback id can change on a step (only on releases without bootsessionuuid).
    session = (_run(env, ["sysctl", "-n", "kern.bootsessionuuid"]) or "").strip()
    return BootRecord(boot_id=session or f"boot-{int(boot_time)}", boot_time=boot_time)


def signin_observations(env: Env, boot_time: float) -> list[SigninObservation]:
    out = []
    for user in env.ps.users():
        if user.started < boot_time:
            continue
        out.append(
            SigninObservation(
                session_id=f"{user.terminal or 'console'}-{int(user.started)}",
                user=user.name,
                started_at=float(user.started),
            )
        )
    return out


def crashes(env: Env, since: float) -> list[Crash]:
    return []


def foreground_app(env: Env) -> str | None:
    return None


def form_factor(model: str) -> str:
    """``hw.model`` → form factor; newer ``MacNN,N`` identifiers do not say, so ""."""
    if model.startswith("MacBook"):
        return "laptop"
    if model.startswith(("iMac", "Macmini", "MacPro")):
        return "desktop"
    return ""


def os_facts(env: Env) -> dict[str, str]:
    version = (_run(env, ["sw_vers", "-productVersion"]) or "").strip()
    ioreg = _run(env, ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]) or ""
    m = _PLATFORM_UUID.search(ioreg)
    model = (_run(env, ["sysctl", "-n", "hw.model"]) or "").strip()
    return {
        "os": "macos",
        "os_version": f"macOS {version}" if version else "",
        "machine_id": "",
        "hardware_id": m.group(1).lower() if m else "",
        "form_factor": form_factor(model),
        # hw.model is Apple's model identifier (e.g. "MacBookPro18,3"); the system disk's
        # media is not read here: unknown
        "manufacturer": "Apple" if model else "",
        "model": system_string(model),
        "system_disk": "",
    }
