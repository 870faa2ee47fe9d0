"""wtmp (glibc struct utmp records, written here with struct) and wtmpdb (an SQLite
database created here with wtmpdb's schema)."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_wtmp import parse_wtmp, wtmp_logins, wtmpdb_logins

BOOT = 1714633980.0
WTMP_FIXTURES = Path(__file__).parent.parent / "fixtures" / "linux" / "wtmp"

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
    # carol's login ends at her line's DEAD_PROCESS; the rest have no end yet
    assert [x.ended_at for x in logins] == [None, None, None, pytest.approx(BOOT + 600.0), None]
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


# --- one fixture per glibc layout (see tests/fixtures/linux/wtmp/README.md) -----------


def layout_fixture(arch: str) -> tuple[list[object], Problems]:
    problems = Problems()
    return list(parse_wtmp((WTMP_FIXTURES / f"wtmp-{arch}").read_bytes(), problems)), problems


def test_aarch64_case_gives_its_three_records_and_one_login():
    problems = Problems()
    records = parse_wtmp((WTMP_FIXTURES / "wtmp-aarch64").read_bytes(), problems)
    assert [(r.ut_type, r.pid, r.line, r.user) for r in records] == [
        (2, 0, "~", "reboot"), (7, 1273, "pts/0", "user1"), (8, 1273, "pts/0", ""),
    ]  # fmt: skip
    assert records[1].host == "192.0.2.10"
    [login] = wtmp_logins(records, records[0].at)
    assert (login.user, login.graphical, login.ended) == ("user1", False, True)
    assert login.started_at == pytest.approx(1716921977.291081, abs=1e-6)
    assert login.session_id == "wtmp-pts/0-1716921977291081"
    assert problems.total == 0


@pytest.mark.parametrize(
    ("arch", "records", "logins"),
    [
        ("x86_64", 5, [("alice", 1727339461.123456, True, False),
                       ("alice", 1727339520.0005, False, True)]),
        ("i386", 5, [("bob", 1727426040.75, None, True),
                     ("bob", 1727427000.000001, False, False)]),
        ("armhf", 3, [("pi", 1727512430.4, True, False)]),
    ],
)  # fmt: skip
def test_each_384_byte_layout(arch: str, records: int, logins: list[tuple[object, ...]]):
    problems = Problems()
    parsed = parse_wtmp((WTMP_FIXTURES / f"wtmp-{arch}").read_bytes(), problems)
    assert len(parsed) == records and problems.total == 0
    got = wtmp_logins(parsed, parsed[0].at)
    assert [(x.user, x.started_at, x.graphical, x.ended) for x in got] == [
        (user, pytest.approx(at, abs=1e-6), graphical, ended)
        for user, at, graphical, ended in logins
    ]


def test_a_file_matching_no_layout_is_one_problem_and_no_records(caplog):
    problems = Problems()
    # A big-endian (s390x) wtmp: the right size for 384-byte records, nothing else right.
    assert parse_wtmp((WTMP_FIXTURES / "wtmp-s390x").read_bytes(), problems) == []
    assert problems.counts["wtmp"] == 1
    assert "match no glibc utmp layout" in caplog.text
    problems = Problems()
    noise = bytes((i * 131 + 7) % 251 for i in range(4800))  # divisible by 384 and 400
    assert parse_wtmp(noise, problems) == []
    assert problems.counts["wtmp"] == 1


def test_layout_is_read_from_the_records_not_the_size():
    """4800 bytes are 25 records of 384 and 12 of 400: the records decide."""
    aarch64 = (WTMP_FIXTURES / "wtmp-aarch64").read_bytes()
    problems = Problems()
    records = parse_wtmp(aarch64 * 4, problems)
    assert len(records) == 12 and problems.total == 0
    assert {r.user for r in records} == {"reboot", "user1", ""}
    x86 = utmp(7, "tty2", "alice", BOOT + 1)
    records = parse_wtmp(x86 * 25, problems)
    assert len(records) == 25 and problems.total == 0
    # A torn last write does not hide the layout either.
    records = parse_wtmp(aarch64 + aarch64[:123], problems)
    assert [r.user for r in records] == ["reboot", "user1", ""]
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
    assert logins[3].ended_at == pytest.approx(BOOT + 900.0, abs=1e-6)  # its Logout (µs)
    assert [x.ended_at for x in logins if x.user != "dave"] == [None] * 4
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
