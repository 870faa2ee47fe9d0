"""Silent, idempotent installation of the agent as a service on Linux (systemd), Windows
(Task Scheduler) and macOS (launchd), and its removal."""

from fleetpulse.agent.errors import ServiceError
from fleetpulse.agent.install.commands import (
    Recorder,
    Runner,
    run_command,
    runner_from_env,
)
from fleetpulse.agent.install.installer import (
    EXIT_ENROLLMENT_FAILED,
    EXIT_OK,
    EXIT_SERVICE_FAILED,
    EXIT_USER_ERROR,
    Options,
    Outcome,
    install,
    uninstall,
)
from fleetpulse.agent.install.layout import Layout, layout_for

__all__ = [
    "EXIT_ENROLLMENT_FAILED",
    "EXIT_OK",
    "EXIT_SERVICE_FAILED",
    "EXIT_USER_ERROR",
    "Layout",
    "Options",
    "Outcome",
    "Recorder",
    "Runner",
    "ServiceError",
    "install",
    "layout_for",
    "run_command",
    "runner_from_env",
    "uninstall",
]
