"""Linux: the hardened systemd unit for the agent and the XDG autostart entry that runs
``session-ready`` in each user's desktop session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetpulse.agent.install.commands import Step, step
from fleetpulse.agent.install.layout import LINUX_UNIT

#: The kernel reclaims above MemoryHigh and kills at MemoryMax. PRODUCT §5 targets 40 MiB of
#: steady RSS, but `fleetpulse-agent run` measures about 55 MiB (grpcio and protobuf), and the
#: cgroup also counts journalctl's reads and the spool's page cache: a 64M cap would kill it.
MEMORY_HIGH = "96M"
MEMORY_MAX = "128M"
CPU_QUOTA = "5%"

_SYSTEMD_SPECIAL = set(" \t\"'\\;")
_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def systemd_quote(arg: str) -> str:
    """One ExecStart word: specifiers (%) and variables ($) taken literally."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if not (set(arg) & _SYSTEMD_SPECIAL) and arg:
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def desktop_quote(arg: str) -> str:
    """One Exec word of a desktop entry (Desktop Entry Specification, "The Exec key")."""
    word = arg
    if set(arg) & _DESKTOP_RESERVED or not arg:
        inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        word = f'"{inner}"'
    # the value is then a desktop-entry string: backslashes doubled; % is a field code
    return word.replace("\\", "\\\\").replace("%", "%%")


def unit_text(program: Sequence[str], state_dir: Path) -> str:
    words = [*program, "run", "--state-dir", str(state_dir)]
    exec_start = " ".join(systemd_quote(w) for w in words)
    return f"""\
# {LINUX_UNIT}: written by 'fleetpulse-agent install', removed by 'fleetpulse-agent uninstall'.
[Unit]
Description=fleetpulse agent (boot, sign-in and application usage telemetry)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
Restart=on-failure
RestartSec=30
TimeoutStopSec=30
Nice=10
IOSchedulingClass=idle
CPUQuota={CPU_QUOTA}
MemoryHigh={MEMORY_HIGH}
MemoryMax={MEMORY_MAX}
TasksMax=64
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={systemd_quote(str(state_dir))}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
PrivateMounts=yes
# reads other users' processes (app usage) and session files; nothing else of root's
CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


def autostart_text(program: Sequence[str], state_dir: Path) -> str:
    words = [*program, "session-ready", "--state-dir", str(state_dir)]
    return f"""\
[Desktop Entry]
Type=Application
Name=fleetpulse session ready
Comment=Tells the fleetpulse agent when the desktop is usable
Exec={" ".join(desktop_quote(w) for w in words)}
NoDisplay=true
Terminal=false
X-GNOME-Autostart-Phase=Applications
X-GNOME-Autostart-enabled=true
X-KDE-autostart-phase=2
"""


def start_steps(changed: bool, unit_changed: bool, start: bool) -> list[Step]:
    """Reload when the unit changed; restart when anything changed (an upgrade, a new
    credential); otherwise only make sure it is enabled and running."""
    steps: list[Step] = []
    if unit_changed:
        steps.append(step("systemctl", "daemon-reload"))
    if not start:
        steps.append(step("systemctl", "enable", LINUX_UNIT))
    elif changed:
        steps.append(step("systemctl", "enable", LINUX_UNIT))
        steps.append(step("systemctl", "restart", LINUX_UNIT))
    else:
        steps.append(step("systemctl", "enable", "--now", LINUX_UNIT))
    return steps


def stop_steps() -> list[Step]:
    return [step("systemctl", "disable", "--now", LINUX_UNIT)]


def after_removal_steps() -> list[Step]:
    return [step("systemctl", "daemon-reload")]
