"""macOS: a LaunchDaemon for the agent and a LaunchAgent running ``session-ready`` in each
user's GUI session."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from pathlib import PurePath

from fleetpulse.agent.install.commands import Step, step
from fleetpulse.agent.install.layout import MACOS_AGENT_LABEL, MACOS_SESSION_LABEL

DOMAIN = "system"


def daemon_plist(program: Sequence[str], state_dir: PurePath, log_dir: PurePath) -> bytes:
    return plistlib.dumps(
        {
            "Label": MACOS_AGENT_LABEL,
            "ProgramArguments": [*program, "run", "--state-dir", str(state_dir)],
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after a stop
            "ThrottleInterval": 30,
            "ProcessType": "Background",
            "Nice": 10,
            "LowPriorityIO": True,
            "Umask": 0o077,
            "StandardOutPath": str(log_dir / "agent.log"),
            "StandardErrorPath": str(log_dir / "agent.log"),
        },
        sort_keys=True,
    )


def agent_plist(program: Sequence[str], state_dir: PurePath) -> bytes:
    return plistlib.dumps(
        {
            "Label": MACOS_SESSION_LABEL,
            "ProgramArguments": [*program, "session-ready", "--state-dir", str(state_dir)],
            "RunAtLoad": True,
            "LimitLoadToSessionType": ["Aqua"],
            "ProcessType": "Background",
        },
        sort_keys=True,
    )


def start_steps(daemon: PurePath, changed: bool, start: bool) -> list[Step]:
    target = f"{DOMAIN}/{MACOS_AGENT_LABEL}"
    if not start:
        return [step("launchctl", "enable", target)]
    reload = [step("launchctl", "bootout", target, may_fail=True)] if changed else []
    return [
        *reload,
        step("launchctl", "enable", target),
        # fails with "service already loaded" when it is: nothing to do then
        step("launchctl", "bootstrap", DOMAIN, str(daemon), may_fail=not changed),
        step("launchctl", "kickstart", target),
    ]


def remove_steps() -> list[Step]:
    target = f"{DOMAIN}/{MACOS_AGENT_LABEL}"
    return [
        step("launchctl", "bootout", target, may_fail=True),
        step("launchctl", "disable", target, may_fail=True),
    ]
