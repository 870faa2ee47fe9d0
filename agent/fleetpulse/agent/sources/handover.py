"""Foreground seconds handed from the per-user helper to the service through files.

The helper (``fleetpulse-agent foreground``, in the user's session) writes one JSON file per
flush to ``<state_dir>/foreground/<session id>-<start ms>.json``, atomically (a hidden
temporary file renamed into place), and never changes it again. The service takes them: it
reads each complete file once and deletes it. A file is::

    {"session_id": "2", "start": 1764572400.0, "end": 1764572460.0,
     "seconds": {"code.exe": 41.0, "explorer.exe": 3.0}}

``start``/``end`` are Unix seconds (UTC), ``seconds`` the seconds each executable's window
was in the foreground between them; ``{}`` means the helper ran and saw no foreground window
(screen locked, nobody at the console), which is a known zero, not unknown.

Users write these files, so the service treats them as untrusted: at most
``MAX_FILE_BYTES``, regular files only, names valid app names, spans of at most
``MAX_SPAN`` seconds, each value clamped to the span; anything else is skipped, deleted,
and counted as a parse problem of source ``foreground_helper``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import stat
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeGuard

from fleetpulse.agent.platform.env import Problems

log = logging.getLogger("fleetpulse.agent.sources.handover")

FOLDER = "foreground"
SOURCE = "foreground_helper"
MAX_FILE_BYTES = 64 * 1024
MAX_APPS = 512
MAX_SPAN = 3600.0
#: a file ending further ahead of the service's clock than this is damaged, not early
FUTURE_SLACK = 60.0
#: the most files one take reads: a user filling the folder cannot stall the service
MAX_FILES_PER_TAKE = 10_000
MAX_NAME = 128
_SESSION = re.compile(r"^[A-Za-z0-9_.]{1,32}$")
_FILE = re.compile(r"^([A-Za-z0-9_.]{1,32})-(\d{1,16})\.json$")


@dataclass(frozen=True, slots=True)
class ForegroundSlice:
    """Foreground seconds per executable of one session between ``start`` and ``end``."""

    session_id: str
    start: float
    end: float
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return f"{self.session_id}-{round(self.start * 1000)}.json"


def valid_session(session_id: str) -> bool:
    """Session ids become file names: letters, digits, ``_`` and ``.`` only, 1-32 long."""
    return bool(_SESSION.match(session_id)) and session_id not in {".", ".."}


def valid_app(name: str) -> bool:
    """An executable's bare file name as ``apps.normalise_app`` gives it: lower case, no
    folder, no control characters, at most 128 characters."""
    return (
        0 < len(name) <= MAX_NAME
        and name == name.strip().casefold()
        and name.isprintable()
        and not any(c in name for c in "/\\")
    )


def write(folder: Path, piece: ForegroundSlice) -> Path:
    """Writes ``piece`` to ``folder`` atomically (temporary file, then rename) and returns
    its path. Raises OSError (folder gone or not writable)."""
    data = json.dumps(
        {
            "session_id": piece.session_id,
            "start": piece.start,
            "end": piece.end,
            "seconds": piece.seconds,
        },
        sort_keys=True,
    ).encode()
    path = folder / piece.file_name
    temp = folder / f".{piece.file_name}.tmp"
    temp.write_bytes(data)
    os.replace(temp, path)
    return path


def prune(folder: Path, session_id: str, keep: int) -> int:
    """Deletes the oldest files of ``session_id`` beyond the newest ``keep`` (the service
    has been stopped for long); returns how many went."""
    mine = []
    for entry in os.scandir(folder):
        m = _FILE.match(entry.name)
        if m and m.group(1) == session_id:
            mine.append((int(m.group(2)), entry.path))
    mine.sort()
    gone = 0
    for _, path in mine[: max(0, len(mine) - keep)]:
        try:
            os.unlink(path)
            gone += 1
        except OSError:
            pass  # taken by the service meanwhile
    return gone


def parse(data: bytes) -> ForegroundSlice:
    """One file's bytes → its slice, values clamped to its span. Raises ValueError."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    session, start, end, seconds = (
        doc.get("session_id"),
        doc.get("start"),
        doc.get("end"),
        doc.get("seconds"),
    )
    if not isinstance(session, str) or not valid_session(session):
        raise ValueError("session_id missing or not a valid id")
    if not _number(start) or not _number(end):
        raise ValueError("start/end missing or not numbers")
    span = float(end) - float(start)
    if not 0 < span <= MAX_SPAN:
        raise ValueError(f"span {span:.1f}s outside (0, {MAX_SPAN:.0f}]")
    if not isinstance(seconds, dict) or len(seconds) > MAX_APPS:
        raise ValueError(f"seconds missing, not an object, or over {MAX_APPS} apps")
    out: dict[str, float] = {}
    for app, value in seconds.items():
        if not valid_app(app):
            raise ValueError(f"app name {app[:40]!r} is not a bare executable name")
        if not _number(value) or value < 0:
            raise ValueError(f"{app}: seconds not a non-negative number")
        out[app] = min(float(value), span)
    if sum(out.values()) > span + 1.0:
        raise ValueError(f"{sum(out.values()):.1f}s of foreground in a {span:.1f}s span")
    return ForegroundSlice(session, float(start), float(end), out)


def _number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number a float holds (an integer of 400 digits does not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class Inbox:
    """The service's side: takes the helpers' complete files from ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stuck: set[str] = set()  # damaged files that could not be deleted: count once

    def take(self, now: float, problems: Problems) -> list[ForegroundSlice]:
        """The slices ended by ``now`` (Unix seconds), oldest first; their files are
        deleted. A missing folder is no slices (no helper ran)."""
        try:
            with os.scandir(self.folder) as found:
                # Only candidates count towards the cap: the entries ignored here (a
                # helper's temporary file or lock, anything not ours) are never deleted,
                # so counting them would let any user hide every real file.
                entries = list(islice(filter(_candidate, found), MAX_FILES_PER_TAKE))
        except OSError:
            return []
        out = []
        for entry in entries:
            try:
                piece = self._read(entry, now)
            except ValueError as exc:
                self._reject(entry.path, entry.name, str(exc), problems)
                continue
            except OSError as exc:
                log.debug("%s unreadable now: %s", entry.path, exc)
                continue
            if piece is None:
                continue  # ends in the next few seconds: the next take has it
            if _remove(entry.path):
                out.append(piece)
        out.sort(key=lambda p: (p.start, p.session_id))
        return out

    def _read(self, entry: os.DirEntry[str], now: float) -> ForegroundSlice | None:
        if not _FILE.match(entry.name):
            raise ValueError("file name is not <session id>-<start ms>.json")
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{info.st_size} bytes, over {MAX_FILE_BYTES}")
        with open(entry.path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"over {MAX_FILE_BYTES} bytes")
        piece = parse(data)
        if piece.end > now + FUTURE_SLACK:
            raise ValueError(f"ends {piece.end - now:.0f}s in the future")
        return None if piece.end > now else piece

    def _reject(self, path: str, name: str, reason: str, problems: Problems) -> None:
        if name in self._stuck:
            return
        problems.skip(SOURCE, f"{name}: {reason}")
        if not _remove(path):
            self._stuck.add(name)


def _candidate(entry: os.DirEntry[str]) -> bool:
    """A name the helper may have written: not hidden (its temporary files and locks), .json."""
    return not entry.name.startswith(".") and entry.name.endswith(".json")


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False  # taken twice? never credit a file that is not ours to delete
    except OSError as exc:
        log.warning("cannot delete %s: %s", path, exc)
        return False
    return True
