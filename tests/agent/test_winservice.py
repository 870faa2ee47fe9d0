"""The Windows service's control logic (fleetpulse.agent.winservice.ServiceControl) with the
Service Control Manager injected: what it reports, in which order and how fast, and that a
stop leaves every unsent record in the spool. The real agent loop runs (service.serve)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from fleetpulse.agent.config import Credentials
from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.install.user_tasks import TaskCheck
from fleetpulse.agent.runner import Agent
from fleetpulse.agent.spool import inspect
from fleetpulse.agent.winservice import (
    SCM_TIMEOUT_S,
    SERVICE_CONTROL_PRESHUTDOWN,
    SERVICE_CONTROL_SHUTDOWN,
    SERVICE_CONTROL_STOP,
    SERVICE_RUNNING,
    SERVICE_START_PENDING,
    SERVICE_STOP_PENDING,
    SERVICE_STOPPED,
    STOP_WAIT_HINT_MS,
    ServiceControl,
    failure_actions_blob,
)

INTERROGATE = 0x4  # winsvc.h SERVICE_CONTROL_INTERROGATE: not a stop


class RecordingScm:
    """Stands where pywin32's SetServiceStatus/ChangeServiceConfig2/event log calls are."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.reports: list[tuple[int, int, int, float]] = []
        self.recovery: tuple[int, int] | None = None
        self.events: list[tuple[str, bool]] = []
        self.running = threading.Event()

    def report(self, state: int, wait_hint_ms: int = 0, exit_code: int = 0) -> None:
        self.reports.append((state, wait_hint_ms, exit_code, time.monotonic() - self.start))
        if state == SERVICE_RUNNING:
            self.running.set()

    def set_recovery(self, restart_delay_ms: int, reset_period_s: int) -> None:
        self.recovery = (restart_delay_ms, reset_period_s)

    def event(self, message: str, error: bool = False) -> None:
        self.events.append((message, error))

    def states(self) -> list[int]:
        return [r[0] for r in self.reports]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _enrolled_state(tmp_path: Path) -> Path:
    """A state folder whose collector does not answer: every record stays in the spool."""
    state = tmp_path / "ProgramData" / "fleetpulse"
    Credentials(
        device_id="dev-1",
        device_secret="s3cret",
        collector=f"127.0.0.1:{_closed_port()}",
        site="hq",
        user_hash_key="00" * 32,
    ).save(state)
    (state / "config.toml").write_text("report_interval_seconds = 1\nboot_settle_seconds = 0\n")
    return state


def _no_handoff(_state: Path) -> str | None:
    return None


def _tasks_in_place(_state: Path) -> TaskCheck:
    return TaskCheck(unchanged=["\\fleetpulse\\session-ready", "\\fleetpulse\\foreground"])


def test_start_then_stop_keeps_the_spool(tmp_path: Path) -> None:
    state = _enrolled_state(tmp_path)
    scm = RecordingScm()
    control = ServiceControl(state, scm, handoff=_no_handoff)
    worker = threading.Thread(target=control.run)
    worker.start()
    try:
        assert scm.running.wait(SCM_TIMEOUT_S)
        spool = str(state / "spool.db")

        def spooled() -> int:
            stats = inspect(spool).stats
            return stats.records if stats is not None else 0

        end = time.monotonic() + 20
        while spooled() == 0 and time.monotonic() < end:
            time.sleep(0.1)
        assert spooled() > 0, "the agent measured nothing"
    finally:
        asked = time.monotonic()
        control.control(SERVICE_CONTROL_STOP)
        worker.join(STOP_WAIT_HINT_MS / 1000)
    stopped_in = time.monotonic() - asked
    assert not worker.is_alive()
    assert stopped_in < STOP_WAIT_HINT_MS / 1000
    assert scm.states() == [
        SERVICE_START_PENDING,
        SERVICE_RUNNING,
        SERVICE_STOP_PENDING,
        SERVICE_STOPPED,
    ]
    pending, running = scm.reports[0], scm.reports[1]
    assert pending[1] == SCM_TIMEOUT_S * 1000  # the wait hint covers the start
    assert running[3] < 1.0  # RUNNING before gRPC is imported or the spool opened
    assert scm.reports[2][1] == STOP_WAIT_HINT_MS
    assert scm.reports[-1][2] == 0  # exit code
    assert scm.recovery == (60_000, 86_400)
    assert control.exit_code == 0
    after = inspect(str(state / "spool.db")).stats
    assert after is not None and after.records > 0  # unsent records kept for the next start


@pytest.mark.parametrize("code", [SERVICE_CONTROL_SHUTDOWN, SERVICE_CONTROL_PRESHUTDOWN])
def test_shutdown_and_preshutdown_stop_the_loop(tmp_path: Path, code: int) -> None:
    scm = RecordingScm()
    served = threading.Event()
    seen: list[threading.Event] = []

    def serve(agent: Agent, stop: threading.Event) -> int:
        seen.append(stop)
        served.set()
        stop.wait(30)
        return 0

    control = ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda _sd: None,
        serve=serve,
        handoff=_no_handoff,  # type: ignore[arg-type,return-value]
    )
    worker = threading.Thread(target=control.run)
    worker.start()
    assert served.wait(10)
    control.control(INTERROGATE)
    assert not seen[0].is_set()  # only stop, shutdown and preshutdown stop it
    control.control(code)
    worker.join(5)
    assert not worker.is_alive()
    assert scm.states() == [
        SERVICE_START_PENDING,
        SERVICE_RUNNING,
        SERVICE_STOP_PENDING,
        SERVICE_STOPPED,
    ]


def test_not_enrolled_stops_with_an_error_for_the_recovery_to_retry(tmp_path: Path) -> None:
    scm = RecordingScm()
    control = ServiceControl(tmp_path / "empty", scm, handoff=_no_handoff)
    assert control.run() == 1
    assert scm.states() == [SERVICE_START_PENDING, SERVICE_RUNNING, SERVICE_STOPPED]
    assert scm.reports[-1][2] == 1
    message, error = scm.events[-1]
    assert error and "cannot start" in message and "enroll" in message


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("enroll.ini: not enrolled and no TOKEN or TOKENFILE given"),
        PermissionError(13, "Access is denied", "C:\\ProgramData\\fleetpulse\\enroll.ini"),
    ],
)
def test_a_refused_handoff_is_logged_and_retried(tmp_path: Path, error: Exception) -> None:
    scm = RecordingScm()

    def handoff(_state: Path) -> str | None:
        raise error

    control = ServiceControl(tmp_path, scm, handoff=handoff, user_tasks=_tasks_in_place)
    assert control.run() == 1
    assert scm.events == [(f"fleetpulse agent cannot start: {error}", True)]
    assert scm.states()[-1] == SERVICE_STOPPED


def test_watchdog_exit_is_the_service_exit_code(tmp_path: Path) -> None:
    scm = RecordingScm()
    control = ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda _sd: None,  # type: ignore[arg-type,return-value]
        serve=lambda _a, _s: 75,
        handoff=lambda _sd: "enrolled as dev-9 (site hq)",
    )
    assert control.run() == 75
    assert scm.reports[-1][0] == SERVICE_STOPPED and scm.reports[-1][2] == 75
    assert ("fleetpulse agent: enrolled as dev-9 (site hq)", False) in scm.events


def test_a_stop_during_enrolment_does_not_start_the_loop(tmp_path: Path) -> None:
    scm = RecordingScm()
    opened: list[Path] = []

    def handoff(_state: Path) -> str | None:
        control.control(SERVICE_CONTROL_STOP)
        return None

    control = ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda sd: opened.append(sd),  # type: ignore[arg-type,func-returns-value]
        serve=lambda _a, _s: 9,
        handoff=handoff,
    )
    assert control.run() == 0
    assert opened == []


def test_failure_actions_restart_three_times() -> None:
    assert failure_actions_blob(60_000, 86_400) == (86_400, [(1, 60_000)] * 3)


def _serving_control(tmp_path: Path, scm: RecordingScm, user_tasks: object) -> ServiceControl:
    return ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda _sd: None,  # type: ignore[arg-type,return-value]
        serve=lambda _a, _s: 0,
        handoff=_no_handoff,
        user_tasks=user_tasks,  # type: ignore[arg-type]
    )


def test_per_user_tasks_are_checked_at_each_start_before_the_hand_off(tmp_path: Path) -> None:
    scm = RecordingScm()
    order: list[str] = []

    def user_tasks(state: Path) -> TaskCheck:
        order.append(f"tasks {state}")
        return TaskCheck(
            created=["\\fleetpulse\\foreground"], unchanged=["\\fleetpulse\\session-ready"]
        )

    def handoff(_state: Path) -> str | None:
        order.append("handoff")
        return None

    control = ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda _sd: None,  # type: ignore[arg-type,return-value]
        serve=lambda _a, _s: 0,
        handoff=handoff,
        user_tasks=user_tasks,
    )
    assert control.run() == 0
    assert order == [f"tasks {tmp_path}", "handoff"]
    assert control.task_failures == 0
    assert (
        "fleetpulse agent: per-user tasks: registered \\fleetpulse\\foreground; "
        "unchanged \\fleetpulse\\session-ready",
        False,
    ) in scm.events


def test_a_task_that_cannot_be_registered_is_counted_not_fatal(tmp_path: Path) -> None:
    scm = RecordingScm()
    failed = TaskCheck(
        unchanged=["\\fleetpulse\\session-ready"],
        failures=["\\fleetpulse\\foreground: 'schtasks /Create' exited 1: Access is denied."],
    )
    control = _serving_control(tmp_path, scm, lambda _sd: failed)
    assert control.run() == 0  # the agent still serves
    assert control.task_failures == 1
    message, error = next(e for e in scm.events if "per-user tasks" in e[0])
    assert error and "1 failed" in message and "Access is denied" in message
    assert scm.states()[-1] == SERVICE_STOPPED and scm.reports[-1][2] == 0


def test_a_crashing_task_check_is_counted_not_fatal(tmp_path: Path) -> None:
    scm = RecordingScm()

    def user_tasks(_state: Path) -> TaskCheck:
        raise RuntimeError("schtasks.exe missing")

    control = _serving_control(tmp_path, scm, user_tasks)
    assert control.run() == 0
    assert control.task_failures == 1
    assert ("fleetpulse agent: per-user tasks not checked: schtasks.exe missing", True) in (
        scm.events
    )


def test_unchanged_tasks_write_no_event(tmp_path: Path) -> None:
    scm = RecordingScm()
    control = _serving_control(tmp_path, scm, _tasks_in_place)
    assert control.run() == 0
    assert not any("per-user" in m for m, _ in scm.events)


def test_outside_an_msi_installation_the_default_check_fails_without_stopping(
    tmp_path: Path,
) -> None:
    """The default check looks for the MSI's console shim beside site-packages; a checkout
    has none, which is a counted failure, and the service runs on."""
    scm = RecordingScm()
    control = ServiceControl(
        tmp_path,
        scm,
        open_agent=lambda _sd: None,  # type: ignore[arg-type,return-value]
        serve=lambda _a, _s: 0,
        handoff=_no_handoff,
    )
    assert control.run() == 0
    assert control.task_failures == 1
    message, error = next(e for e in scm.events if "per-user tasks" in e[0])
    assert error and "not an MSI installation" in message
