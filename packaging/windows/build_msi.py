"""Builds fleetpulse-agent.msi with wixl (msitools) on Linux; run through scripts/build-msi.

    build_msi.py [--out dist/fleetpulse-agent.msi] [--version 0.1.0] [--wheels DIR]
                 [--python-embed python-3.11.x-embed-amd64.zip] [--python-version 3.11]

The MSI is per-machine and x64. It holds the agent's code (fleetpulse.agent, .contract, .v1)
and the win_amd64 wheels of its dependencies unpacked into
``[ProgramFiles64Folder]fleetpulse\\site-packages`` (grpcio, protobuf, psutil, typer-slim with
click, and pywin32 for the service). Wheels come from ``--wheels DIR`` or are fetched with
``pip download --platform win_amd64 --only-binary=:all:``; grpcio's and pywin32's are
built for one CPython minor version, so the MSI is for ``--python-version`` only.

With ``--python-embed`` (the "Windows embeddable package (64-bit)" zip from python.org) the
runtime is bundled under ``fleetpulse\\python`` and the service runs its python.exe. Without
it the MSI requires that CPython installed for all users: AppSearch reads
HKLM\\SOFTWARE\\Python\\PythonCore\\X.Y\\InstallPath (PEP 514, written by the python.org
installer) and a LaunchCondition stops the installation with a message when it is absent;
the service then runs pywin32's pythonservice.exe with that CPython on its PATH.

wixl compiles a subset of WiX 3 that lacks the IniFile and MsiLockPermissionsEx tables and
custom actions of type 34 (an executable run in a directory), so they are added to the
built MSI with msibuild's SQL (standard Windows Installer tables and actions:
WriteIniValues 5100, RemoveIniValues 3800 in InstallExecuteSequence).

The per-user scheduled tasks (\\fleetpulse\\session-ready, \\fleetpulse\\foreground) have no
MSI table either: the service registers them at each start
(fleetpulse.agent.install.user_tasks), and the MSI's removal deletes them with deferred
custom actions running schtasks as SYSTEM (USER_TASK_ACTIONS). The folders they write to,
ready\\ and foreground\\, get the permissions ``fleetpulse-agent install`` gives them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: never change: Windows Installer finds the installed product to upgrade by this code
UPGRADE_CODE = "6F0C2A7E-3B1D-4C59-9E58-0F1EA6B2C4D1"
NAMESPACE = uuid.UUID("0d3c6c8e-5f7a-4b7e-9a51-2f6e8d1c7b90")
SERVICE = "fleetpulse-agent"
DEPENDENCIES = ("grpcio", "protobuf", "psutil", "typer-slim==0.21.2", "click",
                "typing-extensions", "pywin32")  # fmt: skip
#: the agent's packages (the collector and the simulator are not shipped)
PACKAGES = (("agent", "fleetpulse/agent"), ("protos", "fleetpulse/contract"),
            ("protos", "fleetpulse/v1"))  # fmt: skip
#: parts of pywin32 the service does not use (the Pythonwin IDE, COM extensions, help)
PYWIN32_SKIP = ("pythonwin/", "win32comext/", "win32com/", "adodbapi/", "isapi/",
                "PyWin32.chm", "win32/Demos/", "win32/test/", "win32/scripts/")  # fmt: skip
#: properties written to STATE\enroll.ini (fleetpulse.agent.install.handoff reads it)
INI_KEYS = (("collector", "COLLECTOR"), ("token", "TOKEN"), ("token_file", "TOKENFILE"),
            ("ca_cert", "CACERT"), ("client_cert", "CLIENTCERT"),
            ("client_key", "CLIENTKEY"), ("insecure", "INSECURE"))  # fmt: skip
#: SYSTEM and Administrators full control, inherited by files, no inherited ACEs (P);
#: Users may list the folder itself (icacls (RX), 0x1200a9), as fleetpulse-agent install
#: sets it (fleetpulse.agent.install.windows.permission_steps)
STATE_SDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)"
#: ready\ and foreground\: as the state folder, and Users may add files (icacls (RX,WD),
#: 0x1200ab) and change only their own (CREATOR OWNER, files only: (OI)(IO)M, 0x1301bf)
SHARED_SDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200ab;;;BU)(A;OIIO;0x1301bf;;;CO)"
#: Directory id, folder name (fleetpulse.agent.install.layout: ready_dir, foreground_dir)
SHARED_FOLDERS = (("READYDIR", "ready"), ("FOREGROUNDDIR", "foreground"))
#: the per-user tasks (fleetpulse.agent.install.layout)
SESSION_TASK = "\\fleetpulse\\session-ready"
FOREGROUND_TASK = "\\fleetpulse\\foreground"
#: removal: the helpers end before the files go (they run from INSTALLDIR), then both tasks
#: are deleted unless a newer version replaces this one (its service re-registers them).
#: (action, sequence, condition, schtasks arguments); between StopServices (1900) and
#: DeleteServices (2000)
USER_TASK_ACTIONS = (
    ("EndForegroundHelpers", 1910, 'REMOVE="ALL"', f"/End /TN {FOREGROUND_TASK}"),
    ("DeleteSessionTask", 1920, 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE',
     f"/Delete /TN {SESSION_TASK} /F"),
    ("DeleteForegroundTask", 1930, 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE',
     f"/Delete /TN {FOREGROUND_TASK} /F"),
)  # fmt: skip
#: msidbCustomActionType: 34 (Target: an executable's command line, Source: the working
#: directory) + 64 Continue (its exit code is ignored: a task already gone) + 1024 InScript
#: (deferred) + 2048 NoImpersonate (runs as SYSTEM)
EXE_DEFERRED_SYSTEM = 34 + 64 + 1024 + 2048
#: the service's environment on the system-CPython MSI: the pythonw.exe the per-user tasks
#: run (fleetpulse.agent.install.user_tasks.PYTHONW_ENV)
PYTHONW_ENV = "FLEETPULSE_PYTHONW"

SERVICE_SHIM = '''\
"""Starts the fleetpulse agent's Windows service (installed by fleetpulse-agent.msi)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.join(HERE, "site-packages")
for path in (SITE, os.path.join(SITE, "win32"), os.path.join(SITE, "win32", "lib")):
    if path not in sys.path:
        sys.path.insert(1, path)
os.add_dll_directory(os.path.join(SITE, "pywin32_system32"))

from fleetpulse.agent.winservice import _windows_service, main  # noqa: E402

if __name__ == "__main__":
    main()  # python.exe -I fleetpulse_service.py: the bundled runtime
else:
    AgentService = _windows_service()  # pythonservice.exe imports PythonClass from here
'''

CONSOLE_SHIM = '''\
"""The fleetpulse-agent command of the MSI installation: python -I fleetpulse-agent.py doctor"""
import os
import sys

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site-packages")
sys.path.insert(0, SITE)
from fleetpulse.agent.launcher import main  # noqa: E402

main()
'''


def fail(message: str) -> None:
    print(f"build-msi: error: {message}", file=sys.stderr)
    sys.exit(1)


def ident(prefix: str, key: str) -> str:
    return prefix + hashlib.sha1(key.encode()).hexdigest()[:20]


def guid(key: str) -> str:
    """A component GUID stable across builds (same path, same component: upgrades work)."""
    return str(uuid.uuid5(NAMESPACE, key)).upper()


def fetch_wheels(dest: Path, python_version: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "--platform", "win_amd64", "--python-version", python_version,
           "--only-binary=:all:", "-d", str(dest), *DEPENDENCIES]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "is ignored" not in ln]
        fail(f"pip download failed: {lines[-1] if lines else done.returncode}")
    return dest


def stage(root: Path, wheels: Path, embed: Path | None) -> None:
    site = root / "site-packages"
    found = sorted(wheels.glob("*.whl"))
    names = {w.name.split("-")[0].lower().replace("_", "-") for w in found}
    for need in ("grpcio", "protobuf", "psutil", "typer-slim", "click", "pywin32"):
        if need not in names:
            fail(f"no {need} wheel in {wheels}")
    for wheel in found:
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.endswith("/") or (".dist-info/" in member and "RECORD" in member):
                    continue
                if wheel.name.startswith("pywin32-") and member.startswith(PYWIN32_SKIP):
                    continue
                target = site / member
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(member))
    for src_root, package in PACKAGES:
        src = REPO / src_root / package
        shutil.copytree(src, site / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    (root / "fleetpulse_service.py").write_text(SERVICE_SHIM, encoding="utf-8")
    (root / "fleetpulse-agent.py").write_text(CONSOLE_SHIM, encoding="utf-8")
    if embed is not None:
        with zipfile.ZipFile(embed) as zf:
            zf.extractall(root / "python")
        if not (root / "python" / "python.exe").is_file():
            fail(f"{embed} is not a CPython embeddable package: no python.exe in it")
    else:
        shutil.copy2(site / "win32" / "pythonservice.exe", root / "pythonservice.exe")


def tree_xml(root: Path, service_file: str, service_xml: str) -> tuple[str, list[str]]:
    """Directory/Component/File elements for everything under ``root``, one component per
    file (its key path); the service's executable carries ``service_xml``."""
    components: list[str] = []

    def walk(d: Path, depth: int) -> str:
        pad = "  " * depth
        out = []
        for entry in sorted(d.iterdir()):
            rel = entry.relative_to(root).as_posix()
            if entry.is_dir():
                out.append(f"{pad}<Directory Id={quoteattr(ident('d', rel))} "
                           f"Name={quoteattr(entry.name)}>\n{walk(entry, depth + 1)}"
                           f"{pad}</Directory>\n")  # fmt: skip
                continue
            cid = ident("c", rel)
            components.append(cid)
            file = el("File", Id=ident("f", rel), Name=entry.name,
                      Source=entry.relative_to(root.parent).as_posix(), KeyPath="yes")  # fmt: skip
            extra = service_xml if rel == service_file else ""
            out.append(f'{pad}<Component Id="{cid}" Guid="{guid(rel)}" Win64="yes">'
                       f"{file}{extra}</Component>\n")  # fmt: skip
        return "".join(out)

    return walk(root, 5), components


def el(tag: str, text: str | None = None, **attrs: str) -> str:
    """One WiX element; attribute values quoted and escaped."""
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    if text is None:
        return f"<{tag}{attributes}/>"
    return f"<{tag}{attributes}>{text}</{tag}>"


def service_xml(bundled: bool) -> str:
    args = '-I "[INSTALLDIR]fleetpulse_service.py"' if bundled else ""
    description = "Measures boot, sign-in and application usage and reports them."
    install = el("ServiceInstall", Id="AgentService", Name=SERVICE,
                 DisplayName="fleetpulse agent", Description=description, Type="ownProcess",
                 Start="auto", ErrorControl="normal", Account="LocalSystem", Arguments=args,
                 Vital="yes")  # fmt: skip
    control = el("ServiceControl", Id="AgentServiceControl", Name=SERVICE, Start="install",
                 Stop="both", Remove="uninstall", Wait="yes")  # fmt: skip
    return install + control


def registry_component(cid: str, key: str, values: list[tuple[str, str, str]]) -> str:
    """A component of HKLM values (name, WiX type, value); the first is its key path."""
    rows = "".join(
        "\n          " + el("RegistryValue", Root="HKLM", Key=key, Name=name, Type=kind,
                               Value=value, **({"KeyPath": "yes"} if i == 0 else {}))
        for i, (name, kind, value) in enumerate(values)
    )  # fmt: skip
    head = f'<Component Id="{cid}" Guid="{guid(cid)}" Win64="yes">'
    return f"\n        {head}{rows}\n        </Component>"


def product_xml(version: str, python_version: str, bundled: bool, root: Path) -> tuple[str, str]:
    service_file = "python/python.exe" if bundled else "pythonservice.exe"
    files, components = tree_xml(root, service_file, service_xml(bundled))
    key = f"SOFTWARE\\Python\\PythonCore\\{python_version}\\InstallPath"
    site = "[INSTALLDIR]site-packages"
    # the event log source of servicemanager.LogInfoMsg/LogErrorMsg (messages in its .pyd)
    registry = registry_component(
        "EventSource",
        f"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\{SERVICE}",
        [("EventMessageFile", "string", f"{site}\\win32\\servicemanager.pyd"),
         ("TypesSupported", "integer", "7")],
    )  # fmt: skip
    components.append("EventSource")
    python_search = ""
    if not bundled:
        search = el("RegistrySearch", Id="PythonDirSearch", Root="HKLM", Key=key, Name="",
                    Type="raw", Win64="yes")  # fmt: skip
        message = (
            f"fleetpulse agent needs CPython {python_version} (64-bit) installed for all "
            f"users (python-{python_version}.x-amd64.exe /quiet InstallAllUsers=1): "
            f"HKLM\\{key} was not found."
        )
        python_search = (
            "\n    " + el("Property", search, Id="PYTHONDIR")
            + "\n    " + el("Condition", "Installed OR PYTHONDIR", Message=message)
        )  # fmt: skip
        # pythonservice.exe: the class to host, and CPython's and pywin32's DLLs on PATH
        path = f"PATH=[PYTHONDIR];{site}\\pywin32_system32;[%SystemRoot]\\system32"
        pythonpath = f"PYTHONPATH={site};{site}\\win32;{site}\\win32\\lib"
        pythonw = f"{PYTHONW_ENV}=[PYTHONDIR]pythonw.exe"
        registry += registry_component(
            "ServiceHost",
            f"SYSTEM\\CurrentControlSet\\Services\\{SERVICE}",
            [("PythonClass", "string", "[INSTALLDIR]fleetpulse_service.AgentService"),
             ("Environment", "multistring", f"{path}[~]{pythonpath}[~]{pythonw}")],
        )  # fmt: skip
        components.append("ServiceHost")
    props = "\n".join(f'    <Property Id="{p}"/>' for _, p in INI_KEYS)
    shared = "".join(
        f'\n          <Directory Id="{d}" Name="{name}">'
        f'\n            <Component Id="{d}Folder" Guid="{guid(d)}" Win64="yes">'
        "<CreateFolder/></Component>\n          </Directory>"
        for d, name in SHARED_FOLDERS
    )
    folders = ["StateFolder", *(f"{d}Folder" for d, _ in SHARED_FOLDERS)]
    refs = "\n".join(f'      <ComponentRef Id="{c}"/>' for c in [*components, *folders])
    wxs = f"""<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="fleetpulse agent" Language="1033" Version="{version}"
           Manufacturer="fleetpulse" UpgradeCode="{UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
             Description="fleetpulse endpoint agent {version}" Manufacturer="fleetpulse"/>
    <MajorUpgrade DowngradeErrorMessage="A newer fleetpulse agent is already installed."/>
    <Media Id="1" Cabinet="agent.cab" EmbedCab="yes"/>
{props}
    <Property Id="NOSTART"/>
    <Property Id="MsiHiddenProperties" Value="TOKEN"/>
    <Property Id="ARPNOMODIFY" Value="1"/>{python_search}
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="fleetpulse">
{files}{registry}
        </Directory>
      </Directory>
      <Directory Id="CommonAppDataFolder">
        <Directory Id="STATEDIR" Name="fleetpulse">
          <Component Id="StateFolder" Guid="{guid("state-folder")}" Win64="yes">
            <CreateFolder/>
          </Component>{shared}
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Agent" Title="fleetpulse agent" Level="1">
{refs}
    </Feature>
    <InstallExecuteSequence>
      <StartServices Sequence="5900">NOT NOSTART</StartServices>
    </InstallExecuteSequence>
  </Product>
</Wix>
"""
    return wxs, service_file


def msibuild(msi: Path, *queries: str) -> None:
    for q in queries:
        done = subprocess.run(["msibuild", str(msi), "-q", q], capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            fail(f"msibuild: {q[:60]}...: {(done.stderr or done.stdout).strip()}")


def add_tables(msi: Path) -> None:
    """The IniFile rows (STATE\\enroll.ini), the state folders' ACLs and the custom actions
    that remove the per-user tasks."""
    ini = ["CREATE TABLE `IniFile` (`IniFile` CHAR(72) NOT NULL, `FileName` CHAR(255) NOT NULL,"
           " `DirProperty` CHAR(72), `Section` CHAR(96) NOT NULL, `Key` CHAR(128) NOT NULL,"
           " `Value` CHAR(255) NOT NULL, `Action` SHORT NOT NULL, `Component_` CHAR(72) NOT NULL"
           " PRIMARY KEY `IniFile`)"]  # fmt: skip
    for key, prop in INI_KEYS:
        # Action 0: msidbIniFileActionAddLine (creates or replaces key=value)
        ini.append("INSERT INTO `IniFile` (`IniFile`, `FileName`, `DirProperty`, `Section`,"
                   f" `Key`, `Value`, `Action`, `Component_`) VALUES ('Ini_{key}',"
                   f" 'enroll.ini', 'STATEDIR', 'enroll', '{key}', '[{prop}]', 0,"
                   " 'StateFolder')")  # fmt: skip
    lock = ["CREATE TABLE `MsiLockPermissionsEx` (`MsiLockPermissionsEx` CHAR(72) NOT NULL,"
            " `LockObject` CHAR(72) NOT NULL, `Table` CHAR(32) NOT NULL,"
            " `SDDLText` LONGCHAR NOT NULL, `Condition` CHAR(255)"
            " PRIMARY KEY `MsiLockPermissionsEx`)",
            "INSERT INTO `MsiLockPermissionsEx` (`MsiLockPermissionsEx`, `LockObject`, `Table`,"
            " `SDDLText`) VALUES ('StateAcl', 'STATEDIR', 'CreateFolder',"
            f" '{STATE_SDDL}')"]  # fmt: skip
    lock += [f"INSERT INTO `MsiLockPermissionsEx` (`MsiLockPermissionsEx`, `LockObject`,"
             f" `Table`, `SDDLText`) VALUES ('{d}Acl', '{d}', 'CreateFolder', '{SHARED_SDDL}')"
             for d, _ in SHARED_FOLDERS]  # fmt: skip
    seq = ["INSERT INTO `InstallExecuteSequence` (`Action`, `Sequence`) VALUES"
           " ('RemoveIniValues', 3800)",
           "INSERT INTO `InstallExecuteSequence` (`Action`, `Sequence`) VALUES"
           " ('WriteIniValues', 5100)"]  # fmt: skip
    actions = [] if "CustomAction" in tables(msi) else [
        "CREATE TABLE `CustomAction` (`Action` CHAR(72) NOT NULL, `Type` SHORT NOT NULL,"
        " `Source` CHAR(72), `Target` CHAR(255), `ExtendedType` LONG PRIMARY KEY `Action`)"
    ]  # fmt: skip
    for action, sequence, condition, arguments in USER_TASK_ACTIONS:
        target = f'"[System64Folder]schtasks.exe" {arguments}'
        actions.append(
            "INSERT INTO `CustomAction` (`Action`, `Type`, `Source`, `Target`)"
            f" VALUES ('{action}', {EXE_DEFERRED_SYSTEM}, 'TARGETDIR', '{target}')"
        )
        seq.append("INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`)"
                   f" VALUES ('{action}', '{condition}', {sequence})")  # fmt: skip
    # public properties passed to the elevated part of the installation (wixl's
    # MajorUpgrade already lists its own there)
    secure = [p for _, p in INI_KEYS] + ["NOSTART"]
    table = subprocess.run(["msiinfo", "export", str(msi), "Property"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    for line in table.splitlines():
        name, _, value = line.partition("\t")
        if name == "SecureCustomProperties":
            secure = [*value.split(";"), *secure]
    update = ("UPDATE `Property` SET `Value` = '" + ";".join(secure) + "'"
              " WHERE `Property` = 'SecureCustomProperties'")  # fmt: skip
    msibuild(msi, *ini, *lock, *actions, *seq, update)


def tables(msi: Path) -> set[str]:
    done = subprocess.run(["msiinfo", "tables", str(msi)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return set(done.stdout.split())


def read_version() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def main() -> None:
    p = argparse.ArgumentParser(description="Builds fleetpulse-agent.msi with wixl.")
    p.add_argument("--out", type=Path, default=REPO / "dist" / "fleetpulse-agent.msi")
    p.add_argument("--version", default=None, help="ProductVersion (default: pyproject's)")
    p.add_argument("--wheels", type=Path, help="win_amd64 wheels (default: pip download)")
    p.add_argument("--python-embed", type=Path, help="CPython embeddable zip to bundle")
    p.add_argument("--python-version", default="3.11", help="CPython X.Y (default 3.11)")
    p.add_argument("--keep-wxs", type=Path, help="also write the generated WiX source here")
    p.add_argument("--work", type=Path, help="stage in this (empty) folder and keep it")
    a = p.parse_args()
    for tool in ("wixl", "msibuild"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found: apt-get install wixl msitools")
    version = a.version or read_version()
    with tempfile.TemporaryDirectory(prefix="fleetpulse-msi-") as tmp:
        work = a.work.absolute() if a.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        wheels = a.wheels or fetch_wheels(work / "wheels", a.python_version)
        root = work / "root"
        stage(root, wheels, a.python_embed)
        wxs, _ = product_xml(version, a.python_version, a.python_embed is not None, root)
        src = work / "fleetpulse-agent.wxs"
        src.write_text(wxs, encoding="utf-8")
        if a.keep_wxs:
            shutil.copy2(src, a.keep_wxs)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        out = a.out.absolute()
        done = subprocess.run(["wixl", "-a", "x64", "-o", str(out), src.name], cwd=work,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            fail(f"wixl: {(done.stderr or done.stdout).strip()}")
        add_tables(a.out)
    size = os.path.getsize(a.out) / 1e6
    runtime = (
        f"bundled {a.python_embed.name}"
        if a.python_embed
        else (f"needs CPython {a.python_version} x64 installed")
    )
    print(f"built {a.out} ({size:.1f} MB), version {version}, {runtime}")


if __name__ == "__main__":
    main()
