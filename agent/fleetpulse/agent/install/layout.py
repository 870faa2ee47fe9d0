"""Where an installed agent lives on each OS, optionally under a relocated root."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.sources.handover import FOLDER

SYSTEMS = ("linux", "windows", "macos")

SERVICE = "fleetpulse-agent"
LINUX_UNIT = "fleetpulse-agent.service"
LINUX_AUTOSTART = "fleetpulse-session-ready.desktop"
WINDOWS_TASK_FOLDER = "fleetpulse"
WINDOWS_AGENT_TASK = r"\fleetpulse\agent"
WINDOWS_SESSION_TASK = r"\fleetpulse\session-ready"
WINDOWS_FOREGROUND_TASK = r"\fleetpulse\foreground"
MACOS_AGENT_LABEL = "org.fleetpulse.agent"
MACOS_SESSION_LABEL = "org.fleetpulse.session-ready"
MANIFEST = "install.json"


def host_system() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    raise ConfigError(f"install does not support {sys.platform}")


def default_root(system: str) -> Path:
    if system == "windows":
        return Path(os.environ.get("SYSTEMDRIVE", "C:") + "\\")
    return Path("/")


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths ``install`` writes. ``root`` relocates all of them (tests, image staging);
    the service definitions then point at the relocated paths."""

    system: str
    root: Path

    def _at(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def state_dir(self) -> Path:
        if self.system == "windows":
            return self._at("ProgramData", "fleetpulse")
        return self._at("var", "lib", "fleetpulse")

    @property
    def ready_dir(self) -> Path:
        return self.state_dir / "ready"

    @property
    def foreground_dir(self) -> Path:
        """The per-user helper's hand-over files (``sources/handover.py``); Windows only."""
        return self.state_dir / FOLDER

    @property
    def program_dir(self) -> Path:
        """Where an agent run from a single-file artifact is unpacked to."""
        if self.system == "windows":
            return self._at("Program Files", "fleetpulse")
        return self._at("usr", "local", "lib", "fleetpulse")

    @property
    def log_dir(self) -> Path:
        return self._at("Library", "Logs", "fleetpulse")  # macOS only

    @property
    def manifest(self) -> Path:
        return self.state_dir / MANIFEST

    # Linux
    @property
    def unit(self) -> Path:
        return self._at("etc", "systemd", "system", LINUX_UNIT)

    @property
    def autostart(self) -> Path:
        return self._at("etc", "xdg", "autostart", LINUX_AUTOSTART)

    # Windows: Task Scheduler definitions, imported with schtasks /XML
    @property
    def agent_task_xml(self) -> Path:
        return self.program_dir / "agent-task.xml"

    @property
    def session_task_xml(self) -> Path:
        return self.program_dir / "session-ready-task.xml"

    @property
    def foreground_task_xml(self) -> Path:
        return self.program_dir / "foreground-task.xml"

    # macOS
    @property
    def launch_daemon(self) -> Path:
        return self._at("Library", "LaunchDaemons", f"{MACOS_AGENT_LABEL}.plist")

    @property
    def launch_agent(self) -> Path:
        return self._at("Library", "LaunchAgents", f"{MACOS_SESSION_LABEL}.plist")

    def service_files(self) -> list[Path]:
        """The service-manager definitions install writes on this OS."""
        if self.system == "linux":
            return [self.unit, self.autostart]
        if self.system == "windows":
            return [self.agent_task_xml, self.session_task_xml, self.foreground_task_xml]
        return [self.launch_daemon, self.launch_agent]


def layout_for(system: str | None = None, root: Path | None = None) -> Layout:
    system = system or host_system()
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}: one of {', '.join(SYSTEMS)}")
    return Layout(system, (root or default_root(system)).absolute())
