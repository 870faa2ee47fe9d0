"""wtmp (glibc struct utmp records, written here with struct) and wtmpdb (an SQLite
database created here with wtmpdb's schema)."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from agent.platform.env import Problems
from agent.platform.linux_wtmp import parse_wtmp, wtmp_logins, wtmpdb_logins

BOOT = 1714633980.0

# glibc struct utmp on x86_64 / aarch64, written independently of the parser's format.
_UTMP = "=hxxi32s4s32s256shhiii16s20s"


def utmp(ut_type: int, line: str, user: str, at: float, host: str = "", pid: int = 1234) -> bytes:
    sec = int(at)
    usec = round((at - sec) * 1_000_000)
    return struct.pack(
        _UTMP, ut_type, pid, line.encode(), line[-4:].encode(), user.encode(),
        host.encode(), 0, 0, 0, sec, usec, b"\0" * 16, b"\0" * 20,
    )  # fmt: skip


def test_record_size_is_glibcs():
    assert struct.calcsize(_UTMP) == 384


def wtmp_file() -> bytes:
    return b"".join(
        [
            utmp(7, "tty2", "alice", BOOT - 3600.5),  # previous boot
            utmp(8, "tty2", "", BOOT - 60.0),
            utmp(2, "~", "reboot", BOOT + 0.25),
            utmp(1, "~", "runlevel", BOOT + 5.0),
            utmp(7, ":0", "alice", BOOT + 61.123456, host=":0"),  # X display manager login
            utmp(7, "pts/0", "alice", BOOT + 80.0, host=":0"),  # a terminal window
            utmp(7, "pts/1", "bob", BOOT + 90.0, host="10.0.0.5"),  # ssh
            b"\x41" * 384,  # garbage
            utmp(7, "tty3", "carol", BOOT + 120.5),  # console or Wayland: undecided
            utmp(7, "tty4", "dëve", BOOT + 130.0),  # UTF-8 names are fine
            utmp(8, "tty3", "", BOOT + 600.0),  # carol logged out
        ]
    )


def test_wtmp_logins_of_this_boot():
    problems = Problems()
    data = wtmp_file() + b"\x00" * 100  # torn last write
    records = parse_wtmp(data, problems)
    logins = wtmp_logins(records, BOOT)
    assert [(x.user, x.graphical, x.ended) for x in logins] == [
        ("alice", True, False),
        ("alice", False, False),
        ("bob", False, False),
        ("carol", None, True),
        ("dëve", None, False),
    ]
    assert logins[0].started_at == pytest.approx(BOOT + 61.123456, abs=1e-6)
    assert logins[0].session_id == f"wtmp-:0-{round((BOOT + 61.123456) * 1e6)}"
    assert not any(x.logind for x in logins)
    # the garbage record and the torn tail
    assert problems.counts["wtmp"] == 2


def test_non_utf8_user_name_is_skipped():
    problems = Problems()
    bad = struct.pack(
        _UTMP, 7, 99, b"tty5", b"tty5", b"\xff\xfeuser", b"", 0, 0, 0, int(BOOT) + 200, 0,
        b"\0" * 16, b"\0" * 20,
    )  # fmt: skip
    records = parse_wtmp(utmp(7, ":1", "erin", BOOT + 10) + bad, problems)
    assert [r.user for r in records] == ["erin"]
    assert problems.counts["wtmp"] == 1


def test_empty_and_truncated_files():
    problems = Problems()
    assert parse_wtmp(b"", problems) == []
    assert parse_wtmp(b"\x07\x00" * 50, problems) == []
    assert problems.counts["wtmp"] == 1


SCHEMA = (
    "CREATE TABLE wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, "
    "Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT"
)


def wtmpdb_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "wtmp.db"
    db = sqlite3.connect(path)
    db.execute(SCHEMA)
    us = 1_000_000
    rows = [
        (1, "reboot", int(BOOT * us), None, "~", None, None),
        (3, "alice", int((BOOT - 7200) * us), int((BOOT - 100) * us), "tty2", None, "gdm-password"),
        (3, "alice", int(BOOT * us) + 45_250_000, None, "tty2", None, "gdm-password"),
        (3, "bob", int(BOOT * us) + 50_000_000, None, "pts/0", "10.0.0.5", "sshd"),
        (3, "carol", int(BOOT * us) + 55_000_000, None, "tty3", None, "login"),
        (
            3,
            "dave",
            int(BOOT * us) + 60_000_000,
            int(BOOT * us) + 900_000_000,
            ":1",
            None,
            "lightdm",
        ),
        (3, "erin", int(BOOT * us) + 65_000_000, None, "tty4", None, "greetd"),
    ]
    db.executemany(
        "INSERT INTO wtmp (Type, User, Login, Logout, TTY, RemoteHost, Service)"
        " VALUES (?,?,?,?,?,?,?)",
        rows,
    )
    db.commit()
    db.close()
    return path.read_bytes()


def test_wtmpdb_logins_of_this_boot(tmp_path: Path):
    problems = Problems()
    logins = wtmpdb_logins(wtmpdb_bytes(tmp_path), BOOT, problems)
    assert [(x.session_id, x.user, x.graphical, x.ended) for x in logins] == [
        ("wtmpdb-3", "alice", True, False),
        ("wtmpdb-4", "bob", False, False),
        ("wtmpdb-5", "carol", False, False),
        ("wtmpdb-6", "dave", True, True),
        ("wtmpdb-7", "erin", None, False),
    ]
    assert logins[0].started_at == pytest.approx(BOOT + 45.25, abs=1e-6)
    assert problems.total == 0


def test_wtmpdb_bad_rows_and_garbage_database(tmp_path: Path):
    problems = Problems()
    path = tmp_path / "loose.db"
    db = sqlite3.connect(path)
    # Without STRICT, as an older or foreign writer might leave it.
    db.execute(SCHEMA.removesuffix(" STRICT"))
    db.execute(
        "INSERT INTO wtmp VALUES (1, 3, 'alice', ?, NULL, ':0', NULL, 'sddm')",
        (int(BOOT * 1e6) + 5,),
    )
    db.execute(
        "INSERT INTO wtmp VALUES (2, 3, ?, ?, NULL, 'tty2', NULL, NULL)",
        (b"\xff\xfe", int(BOOT * 1e6) + 9),
    )
    db.execute("INSERT INTO wtmp VALUES (3, 3, 'bob', 'soon', NULL, 'tty3', NULL, NULL)")
    db.commit()
    db.close()
    logins = wtmpdb_logins(path.read_bytes(), BOOT, problems)
    assert [x.user for x in logins] == ["alice"]
    assert problems.counts["wtmpdb"] == 2  # the non-UTF-8 user and the text login time

    problems = Problems()
    assert wtmpdb_logins(b"SQLite format 3\x00" + b"\x13" * 500, BOOT, problems) == []
    assert wtmpdb_logins(wtmpdb_bytes(tmp_path)[:2000], BOOT, problems) == []
    assert problems.counts["wtmpdb"] == 2
