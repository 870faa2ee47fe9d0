"""``fleetpulse-agent run`` as a Windows service, under the Service Control Manager (SCM).

The control logic is :class:`ServiceControl`, a plain class talking to the SCM through the
:class:`Scm` boundary, so that it runs (and is tested) anywhere; :func:`main` binds it to
pywin32's ``win32serviceutil.ServiceFramework`` and ``servicemanager`` on Windows only.

Life cycle (Microsoft Learn, "Service State Transitions" and "Service Control Handler
Function"): the SCM waits up to 30 s (``ServicesPipeTimeout``) for a new service to report;
this one reports SERVICE_START_PENDING and then SERVICE_RUNNING before it imports gRPC or
touches the network, makes sure of the per-user scheduled tasks the MSI cannot register
(fleetpulse.agent.install.user_tasks; a failure is logged and counted, never fatal),
applies the MSI's hand-off (enrolment on first start, fleetpulse.agent.install.handoff),
opens the agent and runs fleetpulse.agent.service.serve.
SERVICE_CONTROL_STOP, SERVICE_CONTROL_SHUTDOWN and SERVICE_CONTROL_PRESHUTDOWN report
SERVICE_STOP_PENDING with a wait hint and set the loop's stop event: the loop ends its
cycle, the spool is closed with every unsent record in it, and SERVICE_STOPPED is reported.
A failure (not enrolled, collector refused the token, watchdog exit 75) reports
SERVICE_STOPPED with a service-specific exit code, which the recovery actions set at start
(restart after 60 s, FailureActionsOnNonCrashFailures) turn into a restart.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fleetpulse.agent.install.user_tasks import TaskCheck
    from fleetpulse.agent.runner import Agent

SERVICE_NAME = "fleetpulse-agent"
DISPLAY_NAME = "fleetpulse agent"
DESCRIPTION = "Measures boot, sign-in and application usage and reports them to the collector."

# winsvc.h: SERVICE_STATUS.dwCurrentState
SERVICE_STOPPED = 0x1
SERVICE_START_PENDING = 0x2
SERVICE_STOP_PENDING = 0x3
SERVICE_RUNNING = 0x4
# winsvc.h: control codes
SERVICE_CONTROL_STOP = 0x1
SERVICE_CONTROL_SHUTDOWN = 0x5
SERVICE_CONTROL_PRESHUTDOWN = 0xF
STOP_CONTROLS = frozenset(
    {SERVICE_CONTROL_STOP, SERVICE_CONTROL_SHUTDOWN, SERVICE_CONTROL_PRESHUTDOWN}
)
# winerror.h: ERROR_SERVICE_SPECIFIC_ERROR (the exit code is then the service's own)
ERROR_SERVICE_SPECIFIC_ERROR = 1066

#: SCM's default start timeout (ServicesPipeTimeout, 30 000 ms); we report well inside it
SCM_TIMEOUT_S = 30.0
#: wait hint while stopping: a cycle in progress (a send with its 10 s deadline) ends first
STOP_WAIT_HINT_MS = 20_000
#: the SCM's recovery: restart after this delay, the failure count reset after a day
RESTART_DELAY_MS = 60_000
RESET_PERIOD_S = 86_400

LOG_FILE = "agent.log"
LOG_BYTES = 1 << 20
LOG_BACKUPS = 3

log = logging.getLogger(__name__)


class Scm(Protocol):
    """The Service Control Manager as the service sees it."""

    def report(self, state: int, wait_hint_ms: int = 0, exit_code: int = 0) -> None:
        """SetServiceStatus: ``exit_code`` != 0 is reported as a service-specific error."""

    def set_recovery(self, restart_delay_ms: int, reset_period_s: int) -> None:
        """ChangeServiceConfig2(SERVICE_CONFIG_FAILURE_ACTIONS and _FLAG) on itself."""

    def event(self, message: str, error: bool = False) -> None:
        """A line in the Windows Application event log."""


Opener = Callable[[Path], "Agent"]
Serve = Callable[["Agent", threading.Event], int]
Handoff = Callable[[Path], "str | None"]
UserTasks = Callable[[Path], "TaskCheck"]


def msi_user_tasks(state_dir: Path) -> TaskCheck:
    """The per-user tasks of this MSI installation: the program is the MSI's console shim
    in the install folder (``<install>\\site-packages\\fleetpulse\\agent\\winservice.py``
    is this module), the OS boundary the real ``schtasks``."""
    from fleetpulse.agent.install.program import LAUNCHER
    from fleetpulse.agent.install.user_tasks import TaskCheck, ensure_user_tasks, msi_helper_program
    from fleetpulse.agent.platform.env import run_command

    install_dir = Path(__file__).resolve().parents[3]
    if not (install_dir / LAUNCHER).is_file():
        return TaskCheck(failures=[f"no {LAUNCHER} in {install_dir}: not an MSI installation"])
    return ensure_user_tasks(msi_helper_program(install_dir), state_dir, run_command)


class ServiceControl:
    """Runs the agent of ``state_dir`` as a service. ``run`` is called on the service's
    main thread by the dispatcher; ``control`` on the control-handler thread."""

    def __init__(
        self,
        state_dir: Path,
        scm: Scm,
        open_agent: Opener | None = None,
        serve: Serve | None = None,
        handoff: Handoff | None = None,
        user_tasks: UserTasks | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.scm = scm
        self.stop = threading.Event()
        self._open_agent = open_agent
        self._serve = serve
        self._handoff = handoff
        self._user_tasks = user_tasks or msi_user_tasks
        self.exit_code = 0
        #: per-user tasks that could not be registered at the last start
        self.task_failures = 0

    def control(self, code: int) -> None:
        """A control from the SCM: stop, shutdown and preshutdown stop the loop."""
        if code in STOP_CONTROLS:
            self.scm.report(SERVICE_STOP_PENDING, wait_hint_ms=STOP_WAIT_HINT_MS)
            self.stop.set()

    def run(self) -> int:
        """Reports RUNNING, then serves until stopped; reports STOPPED with the exit code
        (0, 1 for an error, 75 from the watchdog) and returns it."""
        self.scm.report(SERVICE_START_PENDING, wait_hint_ms=int(SCM_TIMEOUT_S * 1000))
        self.scm.report(SERVICE_RUNNING)
        try:
            self.scm.set_recovery(RESTART_DELAY_MS, RESET_PERIOD_S)
        except Exception as exc:  # no right to reconfigure itself: run anyway
            log.warning("could not set the service's recovery actions: %s", exc)
        self._ensure_user_tasks()
        self.exit_code = self._serve_once()
        self.scm.report(SERVICE_STOPPED, exit_code=self.exit_code)
        return self.exit_code

    def _ensure_user_tasks(self) -> None:
        """Never fatal: the service measures without the per-user tasks, only the sign-in
        "responsive" phase and foreground time stay unknown."""
        try:
            check = self._user_tasks(self.state_dir)
        except Exception as exc:
            self.task_failures = 1
            log.error("per-user tasks: %s", exc)
            self.scm.event(f"fleetpulse agent: per-user tasks not checked: {exc}", error=True)
            return
        self.task_failures = len(check.failures)
        if check.failures:
            log.error("%s", check.summary())
        else:
            log.info("%s", check.summary())
        if check.failures or check.created:
            self.scm.event(f"fleetpulse agent: {check.summary()}", error=bool(check.failures))

    def _serve_once(self) -> int:
        from fleetpulse.agent.errors import AgentError

        open_agent, serve, handoff = self._open_agent, self._serve, self._handoff
        if open_agent is None or serve is None or handoff is None:
            from fleetpulse.agent import service
            from fleetpulse.agent.install import handoff as handoff_mod
            from fleetpulse.agent.install.installer import config_template

            open_agent = open_agent or (lambda sd: service.open_agent(sd))
            serve = serve or service.serve
            handoff = handoff or (
                lambda sd: handoff_mod.apply_handoff(sd, config_template=config_template)
            )
        try:
            done = handoff(self.state_dir)
            if done:
                self.scm.event(f"fleetpulse agent: {done}")
            if self.stop.is_set():
                return 0
            agent = open_agent(self.state_dir)
        except (AgentError, OSError) as exc:  # OSError: the state folder not writable
            self.scm.event(f"fleetpulse agent cannot start: {exc}", error=True)
            log.error("cannot start: %s", exc)
            return 1
        self.scm.event("fleetpulse agent started")
        code = serve(agent, self.stop)
        self.scm.event(f"fleetpulse agent stopped (exit {code})", error=code != 0)
        return code


def file_logging(state_dir: Path) -> logging.Handler:
    """A rotating log in the state folder (``agent.log``, 1 MiB, 3 kept)."""
    handler = logging.handlers.RotatingFileHandler(
        state_dir / LOG_FILE, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    from fleetpulse.agent.service import LOG_FORMAT

    handler.setFormatter(logging.Formatter("%(asctime)s " + LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def failure_actions_blob(restart_delay_ms: int, reset_period_s: int) -> tuple[int, list[Any]]:
    """SERVICE_FAILURE_ACTIONS as pywin32's ChangeServiceConfig2 takes it: the reset period
    and three SC_ACTION_RESTART (1) actions after ``restart_delay_ms``."""
    sc_action_restart = 1
    return reset_period_s, [(sc_action_restart, restart_delay_ms)] * 3


def _windows_service() -> Any:  # pragma: no cover - Windows only
    import servicemanager  # type: ignore[import-untyped]
    import win32service  # type: ignore[import-untyped]
    import win32serviceutil  # type: ignore[import-untyped]

    from fleetpulse.agent.config import default_state_dir

    class Win32Scm:
        def __init__(self, framework: Any) -> None:
            self.framework = framework

        def report(self, state: int, wait_hint_ms: int = 0, exit_code: int = 0) -> None:
            win32_exit = ERROR_SERVICE_SPECIFIC_ERROR if exit_code else 0
            self.framework.ReportServiceStatus(
                state, waitHint=wait_hint_ms, win32ExitCode=win32_exit, svcExitCode=exit_code
            )

        def set_recovery(self, restart_delay_ms: int, reset_period_s: int) -> None:
            reset, actions = failure_actions_blob(restart_delay_ms, reset_period_s)
            scm = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_CONNECT)
            try:
                svc = win32service.OpenService(
                    scm, SERVICE_NAME, win32service.SERVICE_CHANGE_CONFIG
                )
                try:
                    win32service.ChangeServiceConfig2(
                        svc,
                        win32service.SERVICE_CONFIG_FAILURE_ACTIONS,
                        {"ResetPeriod": reset, "RebootMsg": None, "Command": None,
                         "Actions": actions},
                    )  # fmt: skip
                    win32service.ChangeServiceConfig2(
                        svc, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True
                    )
                finally:
                    win32service.CloseServiceHandle(svc)
            finally:
                win32service.CloseServiceHandle(scm)

        def event(self, message: str, error: bool = False) -> None:
            if error:
                servicemanager.LogErrorMsg(message)
            else:
                servicemanager.LogInfoMsg(message)

    class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            state_dir = default_state_dir()
            file_logging(state_dir)
            self.control = ServiceControl(state_dir, Win32Scm(self))

        def GetAcceptedControls(self) -> int:
            accepted = int(super().GetAcceptedControls())
            return accepted | int(win32service.SERVICE_ACCEPT_PRESHUTDOWN)

        def SvcStop(self) -> None:
            self.control.control(SERVICE_CONTROL_STOP)

        def SvcShutdown(self) -> None:
            self.control.control(SERVICE_CONTROL_SHUTDOWN)

        def SvcOtherEx(self, control: int, event_type: int, data: Any) -> None:
            self.control.control(control)

        def SvcRun(self) -> None:
            self.control.run()

    return AgentService


def main() -> None:  # pragma: no cover - Windows only
    """The service process's entry (``python.exe -I fleetpulse_service.py``): hands this
    process to the SCM's dispatcher."""
    import servicemanager

    cls = _windows_service()
    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(cls)
    servicemanager.StartServiceCtrlDispatcher()
