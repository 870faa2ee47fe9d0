"""Windows: the per-user scheduled tasks an MSI installation's service makes sure of.

``fleetpulse-agent install`` registers ``\\fleetpulse\\session-ready`` and
``\\fleetpulse\\foreground`` itself (``install/windows.py``). The MSI cannot: wixl has no
Task Scheduler table. So the service, running as SYSTEM, calls :func:`ensure_user_tasks` at
each start: for each task it reads the registered definition with
``schtasks /Query /TN <task> /XML`` and, only when the task is missing or differs from the
definition ``install`` writes (the same generator, :mod:`fleetpulse.agent.install.windows`),
writes that XML (UTF-16) to the state folder, which only SYSTEM and Administrators may
write, and registers it with ``schtasks /Create /TN <task> /XML <file> /F``. It removes
nothing: the MSI's uninstall deletes both tasks (``packaging/windows/build_msi.py``). A
failure is logged and counted in the returned :class:`TaskCheck`, never raised.

Comparing definitions: Task Scheduler returns a task's XML re-serialized, with elements it
added (``Date``, ``Author``) and possibly without elements left at their schema default. A
registered task matches when every element the wanted definition sets is there with the
same text and attributes, or is absent and the wanted value is the default documented in
Microsoft Learn, "Task Scheduler Schema Elements". Elements only the registered task has
are not compared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.install import windows
from fleetpulse.agent.install.layout import WINDOWS_FOREGROUND_TASK, WINDOWS_SESSION_TASK
from fleetpulse.agent.install.program import LAUNCHER, Program, windowless

log = logging.getLogger("fleetpulse.agent.install.user_tasks")

Run = Callable[[Sequence[str]], str]
LocalPath = Callable[[str], Path]
#: the definition of each per-user task, from the program and the state folder
USER_TASKS: tuple[tuple[str, Callable[[Sequence[str], PurePath], str]], ...] = (
    (WINDOWS_SESSION_TASK, windows.session_task_xml),
    (WINDOWS_FOREGROUND_TASK, windows.foreground_task_xml),
)
#: set by the MSI in the service's environment when the service host is not CPython's own
#: python.exe (pywin32's pythonservice.exe): that CPython's pythonw.exe
PYTHONW_ENV = "FLEETPULSE_PYTHONW"

_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
#: schema defaults of the elements the definitions set (Microsoft Learn, "Task Scheduler
#: Schema Elements"), by element name
DEFAULTS = {
    "Enabled": "true",
    "StopAtDurationEnd": "false",
    "RunLevel": "LeastPrivilege",
    "MultipleInstancesPolicy": "IgnoreNew",
    "DisallowStartIfOnBatteries": "true",
    "StopIfGoingOnBatteries": "true",
    "AllowHardTerminate": "true",
    "StartWhenAvailable": "false",
    "RunOnlyIfNetworkAvailable": "false",
    "StopOnIdleEnd": "true",
    "RestartOnIdle": "false",
    "AllowStartOnDemand": "true",
    "Hidden": "false",
    "RunOnlyIfIdle": "false",
    "ExecutionTimeLimit": "PT72H",
    "Priority": "7",
}


@dataclass
class TaskCheck:
    """What :func:`ensure_user_tasks` did: tasks registered (missing or different), tasks
    already as wanted, and one ``"<task>: <reason>"`` per failure."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.created:
            parts.append("registered " + ", ".join(self.created))
        if self.unchanged:
            parts.append("unchanged " + ", ".join(self.unchanged))
        if self.failures:
            parts.append(f"{len(self.failures)} failed: " + "; ".join(self.failures))
        return "per-user tasks: " + ("; ".join(parts) or "none")


def msi_helper_program(
    install_dir: PurePath, executable: str | None = None, environ: Mapping[str, str] | None = None
) -> Program:
    """The command the per-user tasks run on an MSI installation: ``pythonw.exe -I
    <install_dir>\\fleetpulse-agent.py`` (the MSI's console shim). pythonw.exe is the
    service's CPython's: ``FLEETPULSE_PYTHONW`` when the MSI set it (the system-CPython
    MSI, whose service host is pythonservice.exe), else the one beside ``executable``
    (default: this interpreter; the bundled runtime's python.exe)."""
    env = os.environ if environ is None else environ
    launcher = str(install_dir / LAUNCHER)
    python = executable or sys.executable
    pythonw = env.get(PYTHONW_ENV) or windowless(python)
    return Program((python, "-I", launcher), (pythonw, "-I", launcher))


def _leaves(root: ET.Element) -> dict[str, str]:
    """``path -> text`` for each element without children; attributes other than the
    root's are part of the path (``/Task/Actions[Context=Users]/Exec/Command``)."""
    out: dict[str, str] = {}

    def walk(el: ET.Element, prefix: str) -> None:
        name = el.tag.removeprefix(_NS)
        # the root's version is the schema's, which Task Scheduler may raise on export
        attrs = "".join(f"[{k}={v}]" for k, v in sorted(el.attrib.items()) if el is not root)
        path = f"{prefix}/{name}{attrs}"
        children = list(el)
        if not children:
            out[path] = (el.text or "").strip()
        for child in children:
            walk(child, path)

    walk(root, "")
    return out


def parse_task(text: str) -> dict[str, str]:
    """The leaves of a task's XML as ``schtasks /Query /XML`` prints it. Raises ValueError
    when it is not a task definition. Tolerates a UTF-16 print read as bytes (NULs), a
    byte-order mark and text before the XML."""
    text = text.replace("\x00", "")
    start = text.find("<Task")
    if start < 0:
        raise ValueError("no <Task> element in the output")
    try:
        root = ET.fromstring(text[start:].strip())
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if root.tag.removeprefix(_NS) != "Task":
        raise ValueError(f"root element {root.tag}, not Task")
    return _leaves(root)


def differences(wanted: str, registered: str) -> list[str]:
    """The elements of ``wanted`` that ``registered`` (schtasks' print) lacks or sets
    otherwise, as ``path: registered != wanted``; empty when the task is as wanted.
    Raises ValueError when either is not a task definition."""
    want = parse_task(wanted)
    have = parse_task(registered)
    out = []
    for path, value in want.items():
        got = have.get(path)
        if got is None and DEFAULTS.get(path.rsplit("/", 1)[-1]) == value:
            continue
        if got != value:
            out.append(f"{path}: {got!r} != {value!r}")
    return out


def _register(task: str, xml: str, state_dir: PurePath, run: Run, local: LocalPath) -> None:
    fd, name = tempfile.mkstemp(prefix=".task-", suffix=".xml", dir=local(str(state_dir)))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(windows.encode_task(xml))
        run(["schtasks", "/Create", "/TN", task, "/XML", str(state_dir / Path(name).name), "/F"])
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def ensure_user_tasks(
    program: Program, state_dir: PurePath, run: Run, local: LocalPath = Path
) -> TaskCheck:
    """Registers each per-user task that is missing or differs from its definition for
    ``program`` and ``state_dir``. ``run`` executes a command and returns its stdout,
    raising SourceUnavailable when it fails (``platform.env.run_command``); ``local`` maps
    the state folder's path to where this process writes it (identity on Windows)."""
    check = TaskCheck()
    for task, definition in USER_TASKS:
        wanted = definition(program.gui_argv, state_dir)
        try:
            registered = run(["schtasks", "/Query", "/TN", task, "/XML"])
            changed = differences(wanted, registered)
        except SourceUnavailable as exc:  # not registered (or unreadable): register it
            changed = [f"not registered ({exc})"]
        except ValueError as exc:
            changed = [f"unreadable definition ({exc})"]
        if not changed:
            check.unchanged.append(task)
            continue
        log.info("registering %s: %s", task, "; ".join(changed[:3]))
        try:
            _register(task, wanted, state_dir, run, local)
        except (SourceUnavailable, OSError) as exc:
            check.failures.append(f"{task}: {exc}")
            log.warning("could not register %s: %s", task, exc)
            continue
        check.created.append(task)
    return check
