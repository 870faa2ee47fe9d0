"""The command that runs the installed agent, and unpacking a single-file artifact.

Run from a console script (a pip or venv install), the agent's services call that script.
Run from the single-file artifact (``fleetpulse-agent.pyz``), ``install`` unpacks the
artifact's libraries into the program directory once and the services call the system's
Python on a small launcher there: no per-user extraction at each sign-in, and nothing
depends on where the artifact was downloaded to.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fleetpulse.agent.errors import ConfigError

LAUNCHER = "fleetpulse-agent.py"
SITE = "site-packages"
DIGEST = "artifact.sha256"


@dataclass(frozen=True, slots=True)
class Program:
    """``argv`` starts the agent; ``gui_argv`` does the same without a console window."""

    argv: tuple[str, ...]
    gui_argv: tuple[str, ...]


def running_artifact(argv0: str | None = None) -> Path | None:
    """The zipapp this process runs from, if it runs from one."""
    path = Path(argv0 if argv0 is not None else sys.argv[0])
    if path.suffix in {".pyz", ".pyzw"} or (path.is_file() and zipfile.is_zipfile(path)):
        return path.absolute() if path.is_file() else None
    return None


def windowless(python: str) -> str:
    """pythonw.exe beside python.exe on Windows (no console flashes at sign-in)."""
    p = Path(python)
    if p.name.lower() == "python.exe":
        w = p.with_name("pythonw.exe")
        if w.exists():
            return str(w)
    return python


def console_program(argv0: str | None = None, python: str | None = None) -> Program:
    """The agent as this process was started, when not from an artifact."""
    python = python or sys.executable
    arg = argv0 if argv0 is not None else sys.argv[0]
    found = shutil.which(arg) if os.sep not in arg else arg
    path = os.path.abspath(found or arg)
    if not os.path.exists(path) and os.path.exists(path + ".exe"):
        path += ".exe"  # Windows console scripts may see their name without the suffix
    if path.endswith(".py"):
        return Program((python, path), (windowless(python), path))
    return Program((path,), (path,))


def launcher_program(program_dir: Path, python: str | None = None) -> Program:
    python = python or sys.executable
    launcher = str(program_dir / LAUNCHER)
    return Program((python, "-I", launcher), (windowless(python), "-I", launcher))


def launcher_text(site_packages: Path) -> str:
    return (
        '"""Runs the fleetpulse agent unpacked by \'fleetpulse-agent install\'."""\n'
        "import sys\n\n"
        f"sys.path.insert(0, {str(site_packages)!r})\n"
        "from fleetpulse.agent.launcher import main\n\n"
        "main()\n"
    )


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open_up(top: Path) -> None:
    """Readable by everyone: users' sign-in helper runs from here too."""
    for dirpath, _dirs, files in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def unpack(artifact: Path, program_dir: Path) -> bool:
    """Unpacks the artifact's libraries and writes the launcher; False if already there."""
    digest = _digest(artifact)
    site = program_dir / SITE
    marker = program_dir / DIGEST
    launcher = program_dir / LAUNCHER
    text = launcher_text(site)
    try:
        same = marker.read_text(encoding="ascii").strip() == digest
        same = same and site.is_dir() and launcher.read_text(encoding="utf-8") == text
    except OSError:
        same = False
    if same:
        return False
    program_dir.mkdir(parents=True, exist_ok=True)
    staging = program_dir / f"{SITE}.new"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(artifact) as zf:
        members = [m for m in zf.namelist() if m.startswith(f"{SITE}/")]
        zf.extractall(staging, members)
    _open_up(staging)
    old = program_dir / f"{SITE}.old"
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    (staging / SITE).rename(site)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    launcher.write_text(text, encoding="utf-8")
    marker.write_text(digest + "\n", encoding="ascii")
    for path in (launcher, marker):
        os.chmod(path, 0o644)
    return True


def _homes() -> set[Path]:
    """Users' home directories: root's and those of the accounts with UID >= 1000 (the
    first regular UID of Debian, Fedora and most distributions: /etc/login.defs UID_MIN),
    plus $HOME and the usual parents /home and /Users."""
    homes = {Path("/home"), Path("/Users"), Path(os.path.expanduser("~"))}
    try:
        import pwd

        homes |= {Path(p.pw_dir) for p in pwd.getpwall() if p.pw_uid == 0 or p.pw_uid >= 1000}
    except ImportError:  # pragma: no cover - Windows
        pass
    return {h for h in homes if h.is_absolute() and h != Path("/")}


def check_fixed_path(path: str) -> None:
    """Refuses a service command under a user's home directory (a pyenv or per-user Python
    build, a venv in someone's checkout): the service would break when that user changes or
    deletes it, and it runs as root code that user can rewrite.

    Raises ConfigError naming the path and the fix."""
    p = Path(os.path.abspath(path))
    for home in _homes():
        if p.is_relative_to(home):
            raise ConfigError(
                f"the service would run {p}, under the home directory {home}: run install "
                "with a system-wide interpreter (for example /usr/bin/python3 "
                "fleetpulse-agent.pyz install ...)"
            )


def system_python(python: str | None = None) -> str:
    """The interpreter a Linux service runs the unpacked artifact with: ``python`` (default:
    this one) unless it lies under a home directory, else the distribution's
    /usr/bin/pythonX.Y of the same version (the artifact's binary wheels need that minor
    version). Raises ConfigError when there is none."""
    python = python or sys.executable
    try:
        check_fixed_path(python)
    except ConfigError:
        system = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
        if os.path.exists(system):
            return system
        raise
    return python
