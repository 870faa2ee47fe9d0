"""Windows: Task Scheduler definitions for the agent (at boot, as SYSTEM, restarted on
failure), for ``session-ready`` (at each user's logon) and for the ``foreground`` helper
(in each user's session for as long as it lasts), and the folder permissions.

Why tasks and not a service: a program registered with ``sc.exe create`` must answer the
Service Control Manager within 30 s or Windows kills it (error 1053), and the agent's
``run`` loop is a plain console program. A boot task running as SYSTEM with no time limit,
restart-on-failure, and a trigger every 5 minutes that starts it again if it has exited (a
running instance makes the trigger a no-op) gives the same life cycle without that protocol.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import PurePath
from xml.sax.saxutils import escape

from fleetpulse.agent.install.commands import Step, step
from fleetpulse.agent.install.layout import (
    WINDOWS_AGENT_TASK,
    WINDOWS_FOREGROUND_TASK,
    WINDOWS_SESSION_TASK,
)

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
USERS = "S-1-5-32-545"
CREATOR_OWNER = "S-1-3-0"


def _exec(argv: Sequence[str]) -> str:
    command = escape(argv[0])
    arguments = escape(subprocess.list2cmdline(list(argv[1:])))
    return (
        "    <Exec>\n"
        f"      <Command>{command}</Command>\n"
        f"      <Arguments>{arguments}</Arguments>\n"
        "    </Exec>\n"
    )


def _resident_settings(instances: str, hidden: bool) -> str:
    """Settings of a task that runs for as long as it may: no time limit, on battery,
    below-normal priority (7), restarted a minute after a failure (999 times); a start
    missed while the machine slept is made up on waking (StartWhenAvailable)."""
    return f"""\
  <Settings>
    <MultipleInstancesPolicy>{instances}</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>{str(hidden).lower()}</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
"""


def agent_task_xml(program: Sequence[str], state_dir: PurePath) -> str:
    argv = [*program, "run", "--state-dir", str(state_dir)]
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>fleetpulse agent: boot, sign-in and application usage telemetry</Description>
    <URI>{WINDOWS_AGENT_TASK}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
    <TimeTrigger>
      <StartBoundary>2020-01-01T00:00:00</StartBoundary>
      <Repetition>
        <Interval>PT5M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <Enabled>true</Enabled>
    </TimeTrigger>
  </Triggers>
  <Principals>
    <Principal id="System">
      <UserId>{SYSTEM}</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
{_resident_settings("IgnoreNew", hidden=False)}  <Actions Context="System">
{_exec(argv)}  </Actions>
</Task>
"""


def session_task_xml(gui_program: Sequence[str], state_dir: PurePath) -> str:
    argv = [*gui_program, "session-ready", "--state-dir", str(state_dir)]
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>fleetpulse: marks the desktop usable at each sign-in</Description>
    <URI>{WINDOWS_SESSION_TASK}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Users">
      <GroupId>{USERS}</GroupId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>Parallel</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
    <ExecutionTimeLimit>PT5M</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Users">
{_exec(argv)}  </Actions>
</Task>
"""


def foreground_task_xml(gui_program: Sequence[str], state_dir: PurePath) -> str:
    """The per-user helper: started at each logon in that user's session, and again every
    5 minutes (a running helper makes the start a no-op: it holds its session's lock and
    the new one exits 0), so an ended or failed helper is back within 5 minutes. Instances
    run in parallel because each signed-in user has one; no time limit; restarted a minute
    after a failure."""
    argv = [*gui_program, "foreground", "--state-dir", str(state_dir)]
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>fleetpulse: foreground application time in each user's session</Description>
    <URI>{WINDOWS_FOREGROUND_TASK}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Repetition>
        <Interval>PT5M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <Enabled>true</Enabled>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Users">
      <GroupId>{USERS}</GroupId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
{_resident_settings("Parallel", hidden=True)}  <Actions Context="Users">
{_exec(argv)}  </Actions>
</Task>
"""


def encode_task(xml: str) -> bytes:
    """schtasks /XML reads UTF-16 with a byte-order mark."""
    return xml.encode("utf-16")


def permission_steps(
    state_dir: PurePath, ready_dir: PurePath, foreground_dir: PurePath
) -> list[Step]:
    """The state folder: SYSTEM and Administrators only (the credential lives there),
    users may list it; ready\\ and foreground\\: users may add files and change only
    their own (CREATOR OWNER), the Windows form of a sticky directory."""
    shared = [
        step(
            "icacls", str(folder), "/grant:r",
            f"*{USERS}:(RX,WD)", f"*{CREATOR_OWNER}:(OI)(IO)M",
        )
        for folder in (ready_dir, foreground_dir)
    ]  # fmt: skip
    return [
        step(
            "icacls", str(state_dir), "/inheritance:r", "/grant:r",
            f"*{SYSTEM}:(OI)(CI)F", f"*{ADMINISTRATORS}:(OI)(CI)F", f"*{USERS}:(RX)",
        ),
        *shared,
    ]  # fmt: skip


def register_steps(
    agent_xml: PurePath, session_xml: PurePath, foreground_xml: PurePath
) -> list[Step]:
    return [
        step("schtasks", "/Create", "/TN", task, "/XML", str(xml), "/F")
        for task, xml in (
            (WINDOWS_AGENT_TASK, agent_xml),
            (WINDOWS_SESSION_TASK, session_xml),
            (WINDOWS_FOREGROUND_TASK, foreground_xml),
        )
    ]


def start_steps(changed: bool, start: bool) -> list[Step]:
    """After a change the agent restarts at once, and the helpers end: each user's task
    starts the new one within 5 minutes (its repetition trigger)."""
    if not start:
        return []
    ends = [
        step("schtasks", "/End", "/TN", task, may_fail=True)
        for task in (WINDOWS_AGENT_TASK, WINDOWS_FOREGROUND_TASK)
    ]
    return [*(ends if changed else []), step("schtasks", "/Run", "/TN", WINDOWS_AGENT_TASK)]


def remove_steps() -> list[Step]:
    """The helpers end first: an open lock file would keep the state folder from going."""
    return [
        step("schtasks", "/End", "/TN", WINDOWS_FOREGROUND_TASK, may_fail=True),
        step("schtasks", "/End", "/TN", WINDOWS_AGENT_TASK, may_fail=True),
        step("schtasks", "/Delete", "/TN", WINDOWS_AGENT_TASK, "/F", may_fail=True),
        step("schtasks", "/Delete", "/TN", WINDOWS_SESSION_TASK, "/F", may_fail=True),
        step("schtasks", "/Delete", "/TN", WINDOWS_FOREGROUND_TASK, "/F", may_fail=True),
    ]
