"""fleetpulse-agent.msi: built with wixl by scripts/build-msi, its tables read back with
msiinfo, then installed, upgraded and removed by Wine's msiexec in a fresh WINEPREFIX.

What runs here and what does not: Wine's msiexec executes the MSI for real (AppSearch,
LaunchConditions, InstallFiles, WriteIniValues, InstallServices, RemoveExistingProducts,
DeleteServices); Wine's services.exe registers the service. No Windows CPython exists here,
so (1) the registry entry the python.org installer writes (PEP 514:
HKLM\\SOFTWARE\\Python\\PythonCore\\3.11\\InstallPath) is added by the test to satisfy the
AppSearch, and (2) the service is installed with NOSTART=1 and never started: its first
start is simulated by running the same hand-off code (fleetpulse.agent.install.handoff) on
the prefix's state folder from Linux, against a live collector.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PureWindowsPath

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.install.handoff import HANDOFF, apply_handoff
from fleetpulse.agent.install.installer import config_template
from fleetpulse.agent.install.user_tasks import PYTHONW_ENV, ensure_user_tasks, msi_helper_program
from tests.e2e.test_install import _devices, _token
from tests.procs import start_collector

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging" / "windows"))
from build_msi import (  # noqa: E402
    EXE_DEFERRED_SYSTEM,
    INI_KEYS,
    SHARED_SDDL,
    STATE_SDDL,
    UPGRADE_CODE,
    USER_TASK_ACTIONS,
)

MSITOOLS = ("wixl", "msiinfo", "msibuild")
SERVICE_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\fleetpulse-agent"
PYTHON_KEY = r"HKLM\SOFTWARE\Python\PythonCore\3.11\InstallPath"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in MSITOOLS),
        reason="wixl/msitools not installed (apt-get install wixl msitools; scripts/test does)",
    ),
]


def _table(msi: Path, name: str) -> list[list[str]]:
    done = subprocess.run(["msiinfo", "export", str(msi), name], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return [line.split("\t") for line in done.stdout.splitlines()[3:]]


def _key_file(msi: Path, component: str) -> tuple[str, str]:
    """The directory and long file name of a component's key path (the service's
    executable is the key path of the component holding its ServiceInstall row)."""
    comp = {r[0]: (r[2], r[5]) for r in _table(msi, "Component")}[component]
    names = {r[0]: r[2].split("|")[-1] for r in _table(msi, "File")}
    return comp[0], names[comp[1]]


def _build(out: Path, wheels: Path, *args: str) -> Path:
    done = subprocess.run(
        [str(REPO / "scripts" / "build-msi"), "--out", str(out), "--wheels", str(wheels), *args],
        env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(f"built {out} (")
    return out


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("wheels")
    from build_msi import DEPENDENCIES

    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--platform", "win_amd64", "--python-version", "3.11", "--only-binary=:all:",
         "-d", str(dest), *DEPENDENCIES],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return dest


@pytest.fixture(scope="module")
def msis(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("msi")
    return {
        "v1": _build(out / "fleetpulse-agent-1.0.0.msi", wheels, "--version", "1.0.0"),
        "v2": _build(out / "fleetpulse-agent-1.0.1.msi", wheels, "--version", "1.0.1"),
    }


def test_msi_tables(msis: dict[str, Path]) -> None:
    msi = msis["v1"]
    props = dict((r[0], r[1]) for r in _table(msi, "Property"))
    assert props["UpgradeCode"] == "{" + UPGRADE_CODE + "}"
    assert props["ProductVersion"] == "1.0.0"
    assert props["ALLUSERS"] == "1"  # per-machine
    assert props["MsiHiddenProperties"] == "TOKEN"
    secure = props["SecureCustomProperties"].split(";")
    for _, name in INI_KEYS:
        assert name in secure
    template = subprocess.run(["msiinfo", "suminfo", str(msi)], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert "Template: x64;1033" in template

    dirs = {r[0]: (r[1], r[2]) for r in _table(msi, "Directory")}
    assert dirs["INSTALLDIR"] == ("ProgramFiles64Folder", "fleetpulse")
    assert dirs["STATEDIR"] == ("CommonAppDataFolder", "fleetpulse")
    files = {r[2].split("|")[-1]: r[1] for r in _table(msi, "File")}
    for name in ("fleetpulse_service.py", "fleetpulse-agent.py", "pythonservice.exe",
                 "winservice.py", "handoff.py", "servicemanager.pyd", "win32service.pyd",
                 "cygrpc.cp311-win_amd64.pyd", "_psutil_windows.pyd"):  # fmt: skip
        assert name in files, name
    assert not any(n.endswith("server.py") and "collector" in n for n in files)

    (svc,) = _table(msi, "ServiceInstall")
    # Name, ServiceType 0x10 own process, StartType 2 auto, ErrorControl 1 normal
    assert svc[1:6] == ["fleetpulse-agent", "fleetpulse agent", "16", "2", "1"]
    assert svc[8] == "LocalSystem"
    assert _key_file(msi, svc[11]) == ("INSTALLDIR", "pythonservice.exe")
    (ctl,) = _table(msi, "ServiceControl")
    # msidbServiceControlEvent Start 0x1 | Stop 0x2 | UninstallStop 0x20 | UninstallDelete 0x80
    assert ctl[1:3] == ["fleetpulse-agent", str(0x1 | 0x2 | 0x20 | 0x80)]

    upgrade = _table(msi, "Upgrade")
    assert {r[0] for r in upgrade} == {"{" + UPGRADE_CODE + "}"}
    sequence = {r[0]: (r[1], int(r[2])) for r in _table(msi, "InstallExecuteSequence")}
    assert sequence["StartServices"][0] == "NOT NOSTART"
    assert sequence["RemoveExistingProducts"][1] < sequence["InstallInitialize"][1]
    assert sequence["WriteIniValues"][1] == 5100 and sequence["RemoveIniValues"][1] == 3800

    conditions = dict((r[0], r[1]) for r in _table(msi, "LaunchCondition"))
    assert "CPython 3.11 (64-bit)" in conditions["Installed OR PYTHONDIR"]
    assert "NOT WIX_DOWNGRADE_DETECTED" in conditions
    (loc,) = _table(msi, "RegLocator")
    # HKLM (2), the default value, msidbLocatorTypeRawValue 2 | msidbLocatorType64bit 16
    assert loc[1:5] == ["2", r"SOFTWARE\Python\PythonCore\3.11\InstallPath", "", "18"]
    registry = {(r[2].rsplit("\\", 1)[-1], r[3]): r[4] for r in _table(msi, "Registry")}
    assert registry[("fleetpulse-agent", "PythonClass")] == (
        "[INSTALLDIR]fleetpulse_service.AgentService"
    )
    assert registry[("fleetpulse-agent", "EventMessageFile")] == (
        "[INSTALLDIR]site-packages\\win32\\servicemanager.pyd"
    )
    ini = {r[4]: (r[1], r[2], r[3], r[5]) for r in _table(msi, "IniFile")}
    assert ini == {k: ("enroll.ini", "STATEDIR", "enroll", f"[{p}]") for k, p in INI_KEYS}
    locks = {r[1]: (r[2], r[3]) for r in _table(msi, "MsiLockPermissionsEx")}
    assert locks == {
        "STATEDIR": ("CreateFolder", STATE_SDDL),
        "READYDIR": ("CreateFolder", SHARED_SDDL),
        "FOREGROUNDDIR": ("CreateFolder", SHARED_SDDL),
    }
    # the per-user tasks' folders, as fleetpulse-agent install makes them: state\ready and
    # state\foreground, created by the MSI
    assert dirs["READYDIR"] == ("STATEDIR", "ready")
    assert dirs["FOREGROUNDDIR"] == ("STATEDIR", "foreground")
    created = {r[0] for r in _table(msi, "CreateFolder")}
    assert {"STATEDIR", "READYDIR", "FOREGROUNDDIR"} <= created
    # the system-CPython service names its pythonw.exe for the per-user tasks
    assert registry[("fleetpulse-agent", "Environment")].endswith(
        "[~]FLEETPULSE_PYTHONW=[PYTHONDIR]pythonw.exe"
    )
    # removal: deferred, as SYSTEM, exit code ignored; the helpers end after the service
    # stops and before files go; the tasks are kept across an upgrade
    actions = {r[0]: (int(r[1]), r[2], r[3]) for r in _table(msi, "CustomAction")}
    assert EXE_DEFERRED_SYSTEM == 3170
    assert actions == {
        "EndForegroundHelpers": (3170, "TARGETDIR", '"[System64Folder]schtasks.exe" /End /TN'
                                 " \\fleetpulse\\foreground"),
        "DeleteSessionTask": (3170, "TARGETDIR", '"[System64Folder]schtasks.exe" /Delete /TN'
                              " \\fleetpulse\\session-ready /F"),
        "DeleteForegroundTask": (3170, "TARGETDIR", '"[System64Folder]schtasks.exe" /Delete /TN'
                                 " \\fleetpulse\\foreground /F"),
    }  # fmt: skip
    for action, _, condition, _ in USER_TASK_ACTIONS:
        assert sequence[action][0] == condition
        assert sequence["StopServices"][1] < sequence[action][1] < sequence["RemoveFiles"][1]
    assert sequence["EndForegroundHelpers"][0] == 'REMOVE="ALL"'
    assert sequence["DeleteForegroundTask"][0] == 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE'


def test_msi_with_a_bundled_runtime(tmp_path: Path, wheels: Path) -> None:
    embed = tmp_path / "python-3.11.9-embed-amd64.zip"
    with zipfile.ZipFile(embed, "w") as zf:  # the layout of python.org's embeddable zip
        for name in ("python.exe", "pythonw.exe", "python311.dll", "python311.zip"):
            zf.writestr(name, b"MZ stand-in")
        zf.writestr("python311._pth", "python311.zip\n.\n")
    msi = _build(tmp_path / "bundled.msi", wheels, "--python-embed", str(embed))
    files = {r[2].split("|")[-1]: r[1] for r in _table(msi, "File")}
    assert "python311.dll" in files and "python311._pth" in files
    (svc,) = _table(msi, "ServiceInstall")
    assert _key_file(msi, svc[11])[1] == "python.exe"
    assert dict((r[0], r[1]) for r in _table(msi, "Directory"))[_key_file(msi, svc[11])[0]] == (
        "INSTALLDIR"
    )
    assert svc[10] == '-I "[INSTALLDIR]fleetpulse_service.py"'
    conditions = [r[0] for r in _table(msi, "LaunchCondition")]
    assert conditions == ["NOT WIX_DOWNGRADE_DETECTED"]  # no installed CPython needed


# --- Wine -------------------------------------------------------------------------------


class Wine:
    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all",
                    "WINEDLLOVERRIDES": "mscoree,mshtml=", "WINEARCH": "win64"}  # fmt: skip
        self.env.pop("DISPLAY", None)

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["wine", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip

    def local(self, path: str) -> Path:
        """A Windows path of this prefix as a Linux path (C: the prefix, Z: the root)."""
        drive, _, rest = path.partition(":\\")
        base = self.prefix / "drive_c" if drive.upper() == "C" else Path("/")
        return base.joinpath(*rest.split("\\"))

    def msiexec(self, *args: str) -> int:
        return self("msiexec", *args, "/qn").returncode

    def start_scheduler(self) -> None:
        """Wine's Task Scheduler service, kept running with a persistent wineserver (its
        schtasks connects to it); its processes get no pipes of the test's."""
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                 "stderr": subprocess.DEVNULL, "env": self.env, "check": False}  # fmt: skip
        subprocess.run(["wineserver", "-p"], timeout=60, **quiet)  # type: ignore[call-overload]
        subprocess.run(["wine", "sc", "start", "schedule"], timeout=300, **quiet)  # type: ignore[call-overload]

    def run(self, argv: Sequence[str]) -> str:
        """A command in the prefix, as platform.env.run_command runs it on Windows."""
        done = self(*argv)
        if done.returncode != 0:
            raise SourceUnavailable(f"{argv[0]} exited {done.returncode}")
        return done.stdout

    def tasks(self) -> set[str]:
        """The tasks Wine's Task Scheduler holds under \\fleetpulse."""
        folder = self.prefix / "drive_c" / "windows" / "system32" / "tasks" / "fleetpulse"
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def service(self) -> dict[str, str]:
        done = self("reg", "query", SERVICE_KEY)
        values = {}
        for line in done.stdout.replace("\r", "").splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[1].startswith("REG_"):
                values[parts[0]] = parts[2]
        return values


def _winpath(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


@pytest.fixture
def wine(tmp_path: Path) -> Iterator[Wine]:
    if shutil.which("wine") is None:
        pytest.skip("wine not installed (apt-get install wine wine64; scripts/test does)")
    w = Wine(tmp_path / "prefix")
    done = w("wineboot", "--init", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    try:
        yield w
    finally:
        subprocess.run(["wineserver", "-k"], env=w.env, capture_output=True, check=False)


def test_install_upgrade_uninstall_under_wine(
    tmp_path: Path, msis: dict[str, Path], wine: Wine
) -> None:
    program = wine.prefix / "drive_c" / "Program Files" / "fleetpulse"
    state = wine.prefix / "drive_c" / "ProgramData" / "fleetpulse"

    # no CPython 3.11 registered: the launch condition refuses (1603, seen as 1603 & 0xff)
    assert wine.msiexec("/i", _winpath(msis["v1"]), "COLLECTOR=127.0.0.1:1") == 1603 & 0xFF
    assert not program.exists()

    # what python-3.11.x-amd64.exe InstallAllUsers=1 registers (the test's stand-in)
    done = wine("reg", "add", PYTHON_KEY, "/ve", "/d", "C:\\Python311\\", "/f", "/reg:64")
    assert done.returncode == 0, done.stderr

    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        token = _token(c)
        token_file = tmp_path / "deploy" / "token.txt"
        token_file.parent.mkdir()
        token_file.write_text(token)
        code = wine.msiexec("/i", _winpath(msis["v1"]), f"COLLECTOR={c.grpc}",
                            f"TOKENFILE={_winpath(token_file)}", "NOSTART=1")  # fmt: skip
        assert code == 0

        # the files
        for rel in ("pythonservice.exe", "fleetpulse_service.py", "fleetpulse-agent.py",
                    "site-packages/fleetpulse/agent/winservice.py",
                    "site-packages/grpc/_cython/cygrpc.cp311-win_amd64.pyd",
                    "site-packages/win32/servicemanager.pyd"):  # fmt: skip
            assert (program / rel).is_file(), rel
        assert not (program / "site-packages/fleetpulse/collector").exists()
        # the settings handed to the first start: the token file's path, never the token
        ini = (state / HANDOFF).read_text()
        assert f"collector={c.grpc}" in ini
        assert f"token_file={_winpath(token_file)}" in ini
        assert token not in ini
        # the service registration
        svc = wine.service()
        assert svc["ImagePath"] == "C:\\Program Files\\fleetpulse\\pythonservice.exe"
        assert svc["Start"] == "0x2"  # SERVICE_AUTO_START
        assert svc["Type"] == "0x10"  # SERVICE_WIN32_OWN_PROCESS
        assert svc["ObjectName"] == "LocalSystem"
        assert svc["PythonClass"] == (
            "C:\\Program Files\\fleetpulse\\fleetpulse_service.AgentService"
        )
        assert svc["Environment"].startswith("PATH=C:\\Python311\\;")
        query = wine("sc", "query", "fleetpulse-agent").stdout
        assert "STOPPED" in query  # registered, not started (NOSTART=1)

        # the service's first start, simulated: the hand-off it runs, on this prefix
        done_first = apply_handoff(state, local=wine.local, config_template=config_template)
        assert done_first is not None and done_first.startswith("enrolled as ")
        assert not token_file.exists()
        for path in [*state.rglob("*"), *tmp_path.rglob("*")]:
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert token.encode() not in path.read_bytes(), path
        creds = (state / "credentials.json").read_bytes()
        (state / "config.toml").write_text("report_interval_seconds = 120\n")
        (state / "spool.db").write_bytes(b"kept")

        # a newer build over it: the old product goes, the state stays
        assert wine.msiexec("/i", _winpath(msis["v2"]), "NOSTART=1") == 0
        products = wine("reg", "query",
                        r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall",
                        "/s").stdout  # fmt: skip
        assert products.count("fleetpulse agent") == 1 and "1.0.1" in products
        assert (state / "credentials.json").read_bytes() == creds
        assert (state / "config.toml").read_text() == "report_interval_seconds = 120\n"
        assert (state / "spool.db").read_bytes() == b"kept"
        assert (apply_handoff(state, local=wine.local) or "").startswith("kept the credential")
        assert len(_devices(c)) == 1
    finally:
        c.stop()

    # uninstall: service and program files gone; the state folder (credential) is kept
    assert wine.msiexec("/x", _winpath(msis["v2"])) == 0
    assert not program.exists()
    assert wine.service() == {}
    assert (state / "credentials.json").read_bytes() == creds


def test_user_tasks_registered_by_the_service_and_removed_by_the_msi_under_wine(
    msis: dict[str, Path], wine: Wine
) -> None:
    """The service's task check runs from Linux (as the hand-off above) against Wine's real
    schtasks and Task Scheduler; the MSI's own removal actions run in Wine's msiexec.
    Wine 8's schtasks has no /Query (the check then registers both) and no /End (the
    removal ignores its exit code), and its Task Scheduler keeps neither the triggers nor
    the command of a definition, so only registration and removal are checked here."""
    wine.start_scheduler()
    done = wine("reg", "add", PYTHON_KEY, "/ve", "/d", "C:\\Python311\\", "/f", "/reg:64")
    assert done.returncode == 0, done.stderr
    assert wine.msiexec("/i", _winpath(msis["v1"]), "NOSTART=1") == 0
    state = wine.prefix / "drive_c" / "ProgramData" / "fleetpulse"
    assert (state / "ready").is_dir() and (state / "foreground").is_dir()

    # the service's first start: the program from the service's registration
    svc = wine.service()
    environment = dict(e.split("=", 1) for e in svc["Environment"].split("\\0") if e)
    assert environment[PYTHONW_ENV] == "C:\\Python311\\pythonw.exe"
    program = msi_helper_program(
        PureWindowsPath(svc["ImagePath"]).parent, svc["ImagePath"], environment
    )
    assert program.gui_argv == ("C:\\Python311\\pythonw.exe", "-I",
                                "C:\\Program Files\\fleetpulse\\fleetpulse-agent.py")  # fmt: skip
    check = ensure_user_tasks(program, PureWindowsPath("C:\\ProgramData\\fleetpulse"), wine.run,
                              local=wine.local)  # fmt: skip
    assert check.failures == []
    assert check.created == ["\\fleetpulse\\session-ready", "\\fleetpulse\\foreground"]
    assert wine.tasks() == {"session-ready", "foreground"}
    assert not list(state.glob(".task-*"))  # the definitions written for schtasks are gone

    # the old product's removal in a major upgrade keeps them: Windows Installer sets
    # UPGRADINGPRODUCTCODE there (Wine 8's RemoveExistingProducts does not, so it is given
    # as Windows gives it); the new version's service checks them at its start
    upgrading = "UPGRADINGPRODUCTCODE={00000000-0000-0000-0000-000000000001}"
    assert wine.msiexec("/x", _winpath(msis["v1"]), upgrading) == 0
    assert wine.tasks() == {"session-ready", "foreground"}
    # a removal deletes both
    assert wine.msiexec("/i", _winpath(msis["v2"]), "NOSTART=1") == 0
    assert wine.msiexec("/x", _winpath(msis["v2"])) == 0
    assert wine.tasks() == set()
    assert not (wine.prefix / "drive_c" / "Program Files" / "fleetpulse").exists()
