"""The per-user tasks an MSI installation's service makes sure of
(fleetpulse.agent.install.user_tasks), with ``schtasks`` as the injected OS boundary.

Fixtures (tests/fixtures/windows/user_tasks/): ``wine8-registered-foreground.xml`` is the
definition Wine 8's Task Scheduler stored after ``schtasks /Create /XML`` of the foreground
task (Wine keeps the settings and drops the triggers, the principal and the command: a
registration that differs); ``windows-shaped-foreground.xml`` is written in the shape of a
Windows ``schtasks /Query /XML`` print (``Date`` and ``Author`` added, CRLF, elements at
their schema default left out), not captured on Windows. The real ``schtasks /Create`` and
``/Delete`` run under Wine in tests/e2e/test_msi.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PureWindowsPath

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.install import windows
from fleetpulse.agent.install.layout import WINDOWS_FOREGROUND_TASK, WINDOWS_SESSION_TASK
from fleetpulse.agent.install.program import Program
from fleetpulse.agent.install.user_tasks import (
    PYTHONW_ENV,
    TaskCheck,
    differences,
    ensure_user_tasks,
    msi_helper_program,
    parse_task,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "windows" / "user_tasks"
INSTALL = PureWindowsPath(r"C:\Program Files\fleetpulse")
STATE = PureWindowsPath(r"C:\ProgramData\fleetpulse")
BUNDLED = Program(
    (rf"{INSTALL}\python\python.exe", "-I", rf"{INSTALL}\fleetpulse-agent.py"),
    (rf"{INSTALL}\python\pythonw.exe", "-I", rf"{INSTALL}\fleetpulse-agent.py"),
)


def _fixture(name: str) -> str:
    # as platform.env.run_command returns schtasks' output: decoded UTF-8 with replacement
    return (FIXTURES / name).read_bytes().decode("utf-8", "replace")


def _wanted(task: str, program: Program = BUNDLED) -> str:
    make = windows.session_task_xml if task == WINDOWS_SESSION_TASK else windows.foreground_task_xml
    return make(program.gui_argv, STATE)


class Schtasks:
    """Answers ``/Query`` from ``registered`` (absent: schtasks' exit 1), records every
    call, and keeps the file each ``/Create`` names as it was at that moment."""

    def __init__(self, local: Path, registered: dict[str, str], fail_create: bool = False):
        self.local = local
        self.registered = registered
        self.fail_create = fail_create
        self.calls: list[list[str]] = []
        self.created: dict[str, bytes] = {}

    def __call__(self, argv: Sequence[str]) -> str:
        argv = list(argv)
        self.calls.append(argv)
        task = argv[argv.index("/TN") + 1]
        if argv[1] == "/Query":
            if task not in self.registered:
                raise SourceUnavailable(
                    "schtasks exited 1: ERROR: The system cannot find the file specified."
                )
            return self.registered[task]
        assert argv[1] == "/Create" and argv[-1] == "/F"
        name = PureWindowsPath(argv[argv.index("/XML") + 1])
        assert name.parent == STATE  # written where only SYSTEM and Administrators write
        self.created[task] = (self.local / name.name).read_bytes()
        if self.fail_create:
            raise SourceUnavailable("schtasks exited 1: ERROR: Access is denied.")
        return "SUCCESS: The scheduled task has successfully been created.\r\n"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    local = tmp_path / "ProgramData" / "fleetpulse"
    local.mkdir(parents=True)
    return local


def _ensure(schtasks: Schtasks, program: Program = BUNDLED) -> TaskCheck:
    return ensure_user_tasks(program, STATE, schtasks, local=lambda _p: schtasks.local)


def test_missing_tasks_are_registered_with_installs_xml(state: Path) -> None:
    schtasks = Schtasks(state, {})
    check = _ensure(schtasks)
    assert check.created == [WINDOWS_SESSION_TASK, WINDOWS_FOREGROUND_TASK]
    assert check.failures == []
    creates = [c for c in schtasks.calls if c[1] == "/Create"]
    assert [c[:4] for c in creates] == [
        ["schtasks", "/Create", "/TN", WINDOWS_SESSION_TASK],
        ["schtasks", "/Create", "/TN", WINDOWS_FOREGROUND_TASK],
    ]
    for task in (WINDOWS_SESSION_TASK, WINDOWS_FOREGROUND_TASK):
        # byte for byte what `fleetpulse-agent install` writes (UTF-16 with BOM)
        assert schtasks.created[task] == windows.encode_task(_wanted(task))
        xml = schtasks.created[task].decode("utf-16")
        assert rf"<Command>{INSTALL}\python\pythonw.exe</Command>" in xml
        assert rf'-I "{INSTALL}\fleetpulse-agent.py"' in xml and rf"--state-dir {STATE}" in xml
    assert list(state.iterdir()) == []  # the XML files are removed again


def test_tasks_as_wanted_are_left_alone(state: Path) -> None:
    schtasks = Schtasks(
        state,
        {
            WINDOWS_SESSION_TASK: _wanted(WINDOWS_SESSION_TASK),
            WINDOWS_FOREGROUND_TASK: _fixture("windows-shaped-foreground.xml"),
        },
    )
    check = _ensure(schtasks)
    assert check.unchanged == [WINDOWS_SESSION_TASK, WINDOWS_FOREGROUND_TASK]
    assert [c[1] for c in schtasks.calls] == ["/Query", "/Query"]  # nothing registered
    assert schtasks.calls[0] == ["schtasks", "/Query", "/TN", WINDOWS_SESSION_TASK, "/XML"]


def test_a_definition_that_lost_its_trigger_and_command_is_registered_again(
    state: Path,
) -> None:
    registered = _fixture("wine8-registered-foreground.xml")
    found = differences(_wanted(WINDOWS_FOREGROUND_TASK), registered)
    assert any("/Triggers/LogonTrigger/Repetition/Interval" in d for d in found)
    assert any("/Actions[Context=Users]/Exec/Command" in d for d in found)
    assert any("/Settings/MultipleInstancesPolicy: 'IgnoreNew' != 'Parallel'" in d for d in found)
    schtasks = Schtasks(state, {WINDOWS_SESSION_TASK: _wanted(WINDOWS_SESSION_TASK),
                                WINDOWS_FOREGROUND_TASK: registered})  # fmt: skip
    check = _ensure(schtasks)
    assert check.created == [WINDOWS_FOREGROUND_TASK]
    assert check.unchanged == [WINDOWS_SESSION_TASK]


def test_a_moved_program_is_registered_again(state: Path) -> None:
    """The system-CPython MSI's helper runs another pythonw.exe: a task left by the bundled
    one (or by an older layout) is replaced."""
    system = msi_helper_program(
        INSTALL,
        executable=rf"{INSTALL}\pythonservice.exe",
        environ={PYTHONW_ENV: r"C:\Program Files\Python311\pythonw.exe"},
    )
    registered = _fixture("windows-shaped-foreground.xml")
    assert differences(_wanted(WINDOWS_FOREGROUND_TASK, system), registered) == [
        "/Task/Actions[Context=Users]/Exec/Command: "
        f"{BUNDLED.gui_argv[0]!r} != {system.gui_argv[0]!r}"
    ]
    schtasks = Schtasks(state, {WINDOWS_FOREGROUND_TASK: registered})
    _ensure(schtasks, system)
    assert (
        b"P\x00y\x00t\x00h\x00o\x00n\x003\x001\x001\x00"
        in schtasks.created[WINDOWS_FOREGROUND_TASK]
    )


def test_a_setting_changed_away_from_its_default_is_a_difference() -> None:
    wanted = _wanted(WINDOWS_FOREGROUND_TASK)
    edited = _fixture("windows-shaped-foreground.xml").replace(
        "<Hidden>true</Hidden>", "<Hidden>false</Hidden>"
    )
    assert differences(wanted, edited) == ["/Task/Settings/Hidden: 'false' != 'true'"]
    # left out means the schema default: Hidden false, which is not what is wanted
    dropped = _fixture("windows-shaped-foreground.xml").replace("<Hidden>true</Hidden>", "")
    assert differences(wanted, dropped) == ["/Task/Settings/Hidden: None != 'true'"]


@pytest.mark.parametrize(
    "output",
    [
        "ERROR: Access is denied.\r\n",
        "<Task version='1.2'><Settings>",
        '<?xml version="1.0"?><Job/>',
    ],
)
def test_an_unreadable_print_is_registered_again(state: Path, output: str) -> None:
    with pytest.raises(ValueError):
        parse_task(output)
    schtasks = Schtasks(state, {WINDOWS_SESSION_TASK: output, WINDOWS_FOREGROUND_TASK: output})
    assert _ensure(schtasks).created == [WINDOWS_SESSION_TASK, WINDOWS_FOREGROUND_TASK]


def test_a_utf16_print_read_as_utf8_still_parses() -> None:
    wanted = _wanted(WINDOWS_SESSION_TASK)
    raw = wanted.replace("\n", "\r\n").encode("utf-16")  # with its byte-order mark
    assert differences(wanted, raw.decode("utf-8", "replace")) == []


def test_a_failed_registration_is_counted_and_the_next_task_still_tried(state: Path) -> None:
    schtasks = Schtasks(state, {}, fail_create=True)
    check = _ensure(schtasks)
    assert check.created == []
    assert check.failures == [
        rf"{WINDOWS_SESSION_TASK}: schtasks exited 1: ERROR: Access is denied.",
        rf"{WINDOWS_FOREGROUND_TASK}: schtasks exited 1: ERROR: Access is denied.",
    ]
    assert "2 failed" in check.summary()
    assert list(state.iterdir()) == []


def test_an_unwritable_state_folder_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    schtasks = Schtasks(tmp_path / "absent", {})
    check = _ensure(schtasks)
    assert len(check.failures) == 2
    assert [c[1] for c in schtasks.calls] == ["/Query", "/Query"]


def test_the_helper_program_of_each_msi_kind(tmp_path: Path) -> None:
    # bundled runtime: the service is python.exe; pythonw.exe beside it
    runtime = tmp_path / "python"
    runtime.mkdir()
    for name in ("python.exe", "pythonw.exe"):
        (runtime / name).write_bytes(b"MZ")
    bundled = msi_helper_program(tmp_path, executable=str(runtime / "python.exe"), environ={})
    launcher = str(tmp_path / "fleetpulse-agent.py")
    assert bundled.gui_argv == (str(runtime / "pythonw.exe"), "-I", launcher)
    # system CPython: the service is pythonservice.exe; the MSI names pythonw.exe
    system = msi_helper_program(
        tmp_path,
        executable=str(tmp_path / "pythonservice.exe"),
        environ={PYTHONW_ENV: r"C:\Python311\pythonw.exe"},
    )
    assert system.gui_argv == (r"C:\Python311\pythonw.exe", "-I", launcher)
