"""Logins from the login accounting files: the legacy wtmp file (glibc ``struct utmp``
records, in any layout of :mod:`fleetpulse.agent.platform.linux_utmp`) and its Y2038-safe successor,
the wtmpdb SQLite database.

Pure: both parsers take the file's bytes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_desktop import Login
from fleetpulse.agent.platform.linux_utmp import (
    BOOT_TIME,
    COMPAT32,
    DEAD_PROCESS,
    LAYOUTS,
    USER_PROCESS,
    detect_layout,
    implausible,
    unpack,
)

WTMP_SOURCE = "wtmp"
WTMPDB_SOURCE = "wtmpdb"

#: The x86-64 layout, kept under its old name for callers that build records.
UTMP = COMPAT32.fmt
WTMPDB_USER_PROCESS = 3

#: PAM services of display managers: a login through one of them is a desktop sign-in.
DISPLAY_MANAGER_SERVICES = frozenset(
    {
        "gdm-password",
        "gdm-autologin",
        "gdm-fingerprint",
        "gdm-smartcard",
        "sddm",
        "sddm-autologin",
        "lightdm",
        "lightdm-autologin",
        "lxdm",
        "xdm",
        "kdm",
        "slim",
        "xrdp-sesman",
    }
)
TEXT_SERVICES = frozenset(
    {"login", "sshd", "su", "su-l", "sudo", "sudo-i", "runuser", "runuser-l", "cron", "remote"}
)


@dataclass(frozen=True, slots=True)
class UtmpRecord:
    ut_type: int
    pid: int
    line: str
    user: str
    host: str
    at: float


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8")


def is_graphical(line: str, host: str, service: str = "") -> bool | None:
    """Whether a login record is a desktop sign-in; None when the record cannot tell.

    An X display (``:0``) or a display manager's PAM service means desktop; a pseudo
    terminal is a terminal window or a remote shell; a bare ``ttyN`` can be either (a
    text console or a Wayland session), so it stays undecided.
    """
    if service in DISPLAY_MANAGER_SERVICES or line.startswith(":"):
        return True
    if service in TEXT_SERVICES or line.startswith("pts/"):
        return False
    if host and not host.startswith(":"):
        return False
    return None


def parse_wtmp(data: bytes, problems: Problems) -> list[UtmpRecord]:
    """All well-formed records of a wtmp file in whichever glibc layout it was written.

    A file no layout explains is one problem and no records (never garbage read as
    logins); within the detected layout a record that is not plausible, non-UTF-8 text
    or a torn tail is skipped and counted.
    """
    if not data:
        return []
    layout = detect_layout(data)
    if layout is None:
        smallest = min(x.size for x in LAYOUTS)
        reason = (
            f"{len(data)} bytes are not a whole record"
            if len(data) < smallest
            else f"{len(data)} bytes match no glibc utmp layout "
            f"({', '.join(f'{x.name} {x.size} bytes' for x in LAYOUTS)})"
        )
        problems.skip(WTMP_SOURCE, reason)
        return []
    records: list[UtmpRecord] = []
    whole = len(data) - len(data) % layout.size
    if whole != len(data):
        problems.skip(WTMP_SOURCE, f"{len(data) - whole} trailing bytes are not a whole record")
    for offset in range(0, whole, layout.size):
        raw = unpack(layout, data, offset)
        why = implausible(raw)
        if why is not None:
            problems.skip(WTMP_SOURCE, f"record at byte {offset} ({layout.name}): {why}")
            continue
        try:
            record = UtmpRecord(
                raw.ut_type, raw.pid, _text(raw.line), _text(raw.user), _text(raw.host),
                raw.sec + raw.usec / 1e6,
            )  # fmt: skip
        except UnicodeDecodeError:
            problems.skip(WTMP_SOURCE, f"record at byte {offset} has non-UTF-8 text")
            continue
        records.append(record)
    return records


def wtmp_logins(records: list[UtmpRecord], boot_time: float) -> list[Login]:
    """USER_PROCESS records of this boot; the next DEAD_PROCESS on the same line ends one,
    at that record's time (``ut_tv``, utmp(5))."""
    logins: list[Login] = []
    dead_lines: dict[str, float] = {}
    # Walk backwards so each login sees the logouts that came after it (the nearest last).
    for record in reversed(records):
        if record.ut_type == DEAD_PROCESS:
            dead_lines[record.line] = record.at
        elif record.ut_type == BOOT_TIME:
            dead_lines.clear()
        elif record.ut_type == USER_PROCESS and record.at >= boot_time and record.user:
            logins.append(
                Login(
                    session_id=f"wtmp-{record.line}-{round(record.at * 1e6)}",
                    user=record.user,
                    started_at=record.at,
                    graphical=is_graphical(record.line, record.host),
                    ended=record.line in dead_lines,
                    ended_at=dead_lines.get(record.line),
                )
            )
            dead_lines.pop(record.line, None)
    logins.reverse()
    return logins


def wtmpdb_logins(data: bytes, boot_time: float, problems: Problems) -> list[Login]:
    """USER_PROCESS rows of this boot from a wtmpdb database's bytes.

    Table ``wtmp(ID, Type, User, Login, Logout, TTY, RemoteHost, Service)``, times in µs.
    """
    if not data:  # deserialize() of nothing fails with MemoryError, not sqlite3.Error
        problems.skip(WTMPDB_SOURCE, "empty wtmpdb database")
        return []
    db = sqlite3.connect(":memory:")
    db.text_factory = bytes  # decode per row, so one non-UTF-8 name skips one row only
    try:
        db.deserialize(data)
        rows = db.execute(
            "SELECT ID, User, Login, Logout, TTY, RemoteHost, Service FROM wtmp"
            " WHERE Type = ? AND Login >= ? ORDER BY Login",
            (WTMPDB_USER_PROCESS, int(boot_time * 1_000_000)),
        ).fetchall()
    except (sqlite3.Error, OverflowError) as exc:
        problems.skip(WTMPDB_SOURCE, f"not a readable wtmpdb database: {exc}")
        return []
    finally:
        db.close()

    logins: list[Login] = []
    for row_id, raw_user, login, logout, *raw_text in rows:
        try:
            user, tty, host, service = (
                v.decode("utf-8") if isinstance(v, bytes) else "" for v in (raw_user, *raw_text)
            )
        except UnicodeDecodeError:
            problems.skip(WTMPDB_SOURCE, f"row {row_id} has non-UTF-8 text")
            continue
        if not user or not isinstance(login, int) or login <= 0:
            problems.skip(WTMPDB_SOURCE, f"row {row_id} lacks a user or login time")
            continue
        logins.append(
            Login(
                session_id=f"wtmpdb-{row_id}",
                user=user,
                started_at=login / 1_000_000,
                graphical=is_graphical(tty, host, service),
                ended=logout is not None,
                ended_at=logout / 1_000_000 if isinstance(logout, int) and logout > 0 else None,
            )
        )
    return logins
