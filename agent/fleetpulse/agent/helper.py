"""The per-user helper (``fleetpulse-agent foreground``): runs in a user's desktop session,
where the foreground window is visible, and hands foreground seconds to the service.

The service runs as SYSTEM in session 0, where ``GetForegroundWindow`` sees no user's
desktop; Task Scheduler starts this helper in every user's session at sign-in
(``install/windows.py``). One helper runs per session and user (a lock file held for the
process's life); it stops on SIGTERM/SIGINT (SIGBREAK on Windows), when its folder is
removed (uninstall), or with its session: Windows ends a session's processes at sign-out,
losing at most the seconds since the last flush. Without the command-line framework, like
``run``: it stays resident for as long as the user is signed in.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import IO

from fleetpulse.agent import platform
from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources import handover
from fleetpulse.agent.sources.foreground import FLUSH_SECONDS, ForegroundSampler

log = logging.getLogger("fleetpulse.agent.helper")

#: accepted by ``--flush-seconds``: files stay well inside handover.MAX_SPAN
FLUSH_RANGE = (1.0, 900.0)


def session_id(environ: dict[str, str] | None = None) -> str | None:
    """This process's session: the Windows session id (``ProcessIdToSessionId``), else
    logind's ``XDG_SESSION_ID``; None when neither is known."""
    if sys.platform == "win32":
        from fleetpulse.agent.platform import _windows

        sid = _windows.session_id()
        return None if sid is None else str(sid)
    env = os.environ if environ is None else environ
    return env.get("XDG_SESSION_ID") or None


def lock(folder: Path, session: str, user: str) -> IO[bytes] | None:
    """Holds ``.<session>-<user>.lock`` in ``folder`` for as long as the returned file is
    open (the OS releases it when the process ends); None when another helper holds it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user)[:64] or "_"
    fh = open(folder / f".{session}-{safe}.lock", "a+b")  # noqa: SIM115 - held until exit
    try:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def run_helper(state_dir: Path, flush_seconds: float = FLUSH_SECONDS) -> int:
    """Samples the foreground executable every second and writes its seconds to
    ``<state_dir>/foreground/`` every ``flush_seconds`` until stopped. Returns 0, also
    when this session's helper already runs (Task Scheduler starts one every 5 minutes).

    Raises ConfigError: no session id, ``flush_seconds`` out of range, or the folder
    cannot be written."""
    low, high = FLUSH_RANGE
    if not low <= flush_seconds <= high:
        raise ConfigError(f"--flush-seconds must be {low:g}..{high:g}, not {flush_seconds:g}")
    session = session_id()
    if session is None or not handover.valid_session(session):
        raise ConfigError("no desktop session id here: run foreground in a user's session")
    folder = state_dir / handover.FOLDER
    try:
        folder.mkdir(exist_ok=True)
        held = lock(folder, session, getpass.getuser())
    except OSError as exc:
        raise ConfigError(f"{folder}: {exc.strerror or exc}") from None
    if held is None:
        print(f"fleetpulse-agent: foreground already runs in session {session}", file=sys.stderr)
        return 0
    env = Env(state_dir=str(state_dir))
    stop = threading.Event()
    for name in ("SIGTERM", "SIGINT", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
    sampler = ForegroundSampler(
        lambda: platform.foreground_app(env), env.clock, session, folder, env.problems
    )
    with held:
        sampler.run(stop, flush_seconds=flush_seconds, keep_going=folder.is_dir)
    return 0
