"""Every agent parser, and each platform backend as a whole, on arbitrary and near-valid
input: nothing raises; what cannot be read is counted in ``Env.problems`` (or is simply
unknown), and every record a backend builds has the types the sender expects."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import struct
import time
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import _linux, _macos, _windows, windows_hardware
from fleetpulse.agent.platform.env import Env, Problems
from fleetpulse.agent.platform.linux_desktop import parse_ready_marker, shell_starts
from fleetpulse.agent.platform.linux_facts import form_factor, parse_os_release
from fleetpulse.agent.platform.linux_journal import (
    COREDUMP_MESSAGE_ID,
    app_name,
    coredump_crashes,
    parse_entries,
    usec_field,
)
from fleetpulse.agent.platform.linux_logind import (
    SESSION_START_ID,
    SESSION_STOP_ID,
    logind_logins,
    parse_properties,
)
from fleetpulse.agent.platform.linux_systemd import (
    MANAGER_PROPERTIES,
    boot_timing,
    parse_show,
    parse_utc_timestamp,
)
from fleetpulse.agent.platform.linux_utmp import LAYOUTS
from fleetpulse.agent.platform.linux_wtmp import UTMP, parse_wtmp, wtmp_logins, wtmpdb_logins
from fleetpulse.agent.platform.linux_x11 import (
    active_window,
    parse_environ,
    window_pid,
    x11_display,
)
from fleetpulse.agent.platform.smbios import system_string
from fleetpulse.agent.platform.windows_events import (
    NS,
    parse_bool,
    parse_events,
    parse_int,
    parse_time,
    split_events,
)
from fleetpulse.agent.sources import handover
from fleetpulse.contract.records import BootRecord, Crash, SigninObservation
from tests.fuzz import examples

NOW = time.time()
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)
raw = st.binary(max_size=1500)
digits = st.integers(0, 2**63).map(str)
word = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="fleetpulse")


def _lines(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(*parts), max_size=12).map("\n".join)


# -- Windows event XML ---------------------------------------------------------------------

EVENT_IDS = (
    1,
    2,
    12,
    19,
    27,
    100,
    101,
    102,
    103,
    105,
    106,
    109,
    110,
    1000,
    4001,
    4016,
    4018,
    4624,
    4634,
    4647,
    4688,
    4689,
    5016,
    5018,
    8001,
    9705,
    62170,
    62171,
)
PROVIDERS = (
    "Microsoft-Windows-Diagnostics-Performance",
    "Microsoft-Windows-Kernel-Boot",
    "Microsoft-Windows-Kernel-General",
    "Microsoft-Windows-WindowsUpdateClient",
    "Application Error",
    "Microsoft-Windows-Security-Auditing",
    "",
)
FIELDS = (
    "AppName",
    "BootIsDegradation",
    "BootIsRebootAfterInstall",
    "BootStartTime",
    "BootType",
    "BootPostBootTime",
    "BootTime",
    "DegradationTime",
    "MainPathBootTime",
    "TotalTime",
    "CSEElaspedTimeInMilliSeconds",
    "CSEExtensionId",
    "CSEExtensionName",
    "FriendlyName",
    "LogonType",
    "Name",
    "NewProcessId",
    "NewProcessName",
    "PolicyActivityId",
    "PolicyElaspedTimeInSeconds",
    "PrincipalSamName",
    "ProcessId",
    "ProcessName",
    "ScriptType",
    "Session",
    "StartTime",
    "SubjectLogonId",
    "TargetDomainName",
    "TargetLinkedLogonId",
    "TargetLogonId",
    "TargetUserName",
    "TargetUserSid",
    "TaskName",
    "updateTitle",
)
#: wevtutil's time form. Years from 1000: the parser raises on year 0000 (see report).
iso = st.from_regex(
    r"\A[1-9][0-9]{3}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\.[0-9]{1,9})?Z\Z"
)
near = st.floats(NOW - 3 * 86400, NOW + 600).map(
    lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e7):07d}Z"
)
value = st.one_of(
    word,
    text,
    digits,
    st.sampled_from(["2", "10", "11", "true", "0x1F", "S-1-5-21-1-2-3-1001", "0x3e7", ""]),
    near,
    st.integers(-(10**6), 10**9).map(str),
)
xml_text = text.map(lambda s: escape("".join(c for c in s if c.isprintable())))


@st.composite
def event_xml(draw: st.DrawFn) -> str:
    sane = draw(st.integers(0, 2)) > 0  # two in three well formed, the rest anything
    ns = draw(st.sampled_from([f" xmlns='{NS}'", ""]))
    event_id = draw(
        st.sampled_from(EVENT_IDS).map(str)
        if sane
        else st.one_of(st.sampled_from(EVENT_IDS).map(str), value)
    )
    when = draw(near if sane else st.one_of(near, iso, value))
    data = "".join(
        f"<Data Name={quoteattr(draw(st.one_of(st.sampled_from(FIELDS), word)))}>"
        f"{escape(draw(value))}</Data>"
        for _ in range(draw(st.integers(0, 6)))
    )
    data += "".join(f"<Data>{escape(draw(value))}</Data>" for _ in range(draw(st.integers(0, 2))))
    body = draw(
        st.sampled_from(
            [f"<EventData>{data}</EventData>", f"<UserData><X><Y>{data}</Y></X></UserData>", ""]
        )
    )
    xml = (
        f"<Event{ns}><System><Provider Name={quoteattr(draw(st.sampled_from(PROVIDERS)))}/>"
        f"<EventID>{escape(event_id)}</EventID><TimeCreated SystemTime={quoteattr(when)}/>"
        f"<EventRecordID>{escape(draw(value))}</EventRecordID>"
        f"<Correlation ActivityID={quoteattr(draw(value))}/>"
        f"<Security UserID={quoteattr(draw(value))}/><Computer>{draw(xml_text)}</Computer>"
        f"</System>{body}</Event>"
    )
    cut = None if sane else draw(st.one_of(st.none(), st.integers(0, len(xml))))  # torn
    return xml if cut is None else xml[:cut] + draw(st.sampled_from(["", "<", "&", "\x00"]))


events_text = st.one_of(st.lists(event_xml(), max_size=6).map("\r\n".join), text)


@examples(300)
@given(events_text)
def test_windows_event_parser(out: str) -> None:
    problems = Problems()
    events = parse_events(out, "fuzz", problems)
    assert len(events) <= max(1, len(split_events(out)))
    assert len(events) + problems.total >= len(split_events(out))  # each one kept or counted
    for e in events:
        assert isinstance(e.event_id, int) and math.isfinite(e.time)


@examples(300)
@given(st.one_of(text, iso, near, digits))
def test_windows_scalar_parsers(value: str) -> None:
    t = parse_time(value)
    assert t is None or math.isfinite(t)
    assert parse_int(value) is None or isinstance(parse_int(value), int)
    assert parse_bool(value) in (True, False, None)
    assert isinstance(_windows.reg_values(value), dict)
    assert isinstance(
        _windows.os_version(
            {"ProductName": value, "CurrentBuild": value, "UBR": value, "DisplayVersion": value}
        ),
        str,
    )


def _reg(draw: Any) -> str:
    names = st.sampled_from(
        [
            "ProductName",
            "CurrentBuild",
            "CurrentBuildNumber",
            "UBR",
            "DisplayVersion",
            "MachineGuid",
            "LastConfig",
            "ProfileImagePath",
        ]
    )
    lines = [
        f"    {draw(names)}    {draw(st.sampled_from(['REG_SZ', 'REG_DWORD']))}    {draw(value)}"
        for _ in range(draw(st.integers(0, 5)))
    ]
    return "\n".join(["", r"HKEY_LOCAL_MACHINE\SOFTWARE\X", *lines, ""])


def _fake_run(data: st.DataObject, by_command: dict[str, st.SearchStrategy[str]]) -> Any:
    def run(argv: Sequence[str]) -> str:
        strategy = by_command.get(argv[0])
        if strategy is None or data.draw(st.integers(0, 9)) == 0:
            raise SourceUnavailable(f"{argv[0]}: not here")
        return data.draw(strategy)

    return run


def _check_backend(backend: Any, env: Env) -> None:
    boot = backend.boot_record(env)
    assert isinstance(boot, BootRecord) and math.isfinite(boot.boot_time)
    assert boot.total_seconds is None or math.isfinite(boot.total_seconds)
    for obs in backend.signin_observations(env, boot.boot_time - 86400):
        assert isinstance(obs, SigninObservation) and isinstance(obs.user, str)
    assert all(isinstance(c, Crash) for c in backend.crashes(env, NOW - 86400))
    fg = backend.foreground_app(env)
    assert fg is None or isinstance(fg, str)
    assert all(isinstance(v, str) for v in backend.os_facts(env).values())


@examples(250)
@given(st.data())
def test_windows_backend_on_garbled_logs(data: st.DataObject) -> None:
    reg = st.composite(lambda draw: _reg(draw))()
    run = _fake_run(
        data,
        {
            "wevtutil": events_text,
            "reg": st.one_of(reg, text),
            "powershell": st.one_of(near, iso, text),
        },
    )
    _check_backend(_windows, Env(run=run, read_bytes=lambda p: b"", state_dir=None))


# -- Linux: systemd, journal, logind, wtmp, X11, os-release ---------------------------------

show_line = st.one_of(
    st.tuples(
        st.sampled_from([*MANAGER_PROPERTIES, "ActiveEnterTimestampMonotonic", "Virtualization"]),
        st.one_of(st.integers(0, 10**12).map(str), digits, word, st.just("")),
    ).map("=".join),
    text,
)


@examples(250)
@given(_lines(show_line), _lines(show_line))
def test_systemd_show(manager_text: str, graphical_text: str) -> None:
    problems = Problems()
    manager = parse_show(manager_text, problems)
    graphical = parse_show(graphical_text, problems).get("ActiveEnterTimestampMonotonic")
    timing = boot_timing(manager, graphical, problems)
    assert all(p.seconds >= 0 and math.isfinite(p.seconds) for p in timing.phases)
    assert timing.total_seconds is None or timing.total_seconds >= 0


@examples(150)
@given(
    st.one_of(
        text, st.builds("{} {} {} {}".format, word, word, word, st.sampled_from(["UTC", "CET"]))
    )
)
def test_systemd_timestamp_and_properties(value: str) -> None:
    t = parse_utc_timestamp(value)
    assert t is None or math.isfinite(t)
    assert isinstance(parse_properties(value), dict)


journal_value = st.one_of(
    value,
    st.lists(st.integers(0, 300), max_size=8),
    st.lists(value, max_size=2),
    st.none(),
    st.integers(),
    st.booleans(),
    st.dictionaries(word, word, max_size=1),
)
journal_entry = st.fixed_dictionaries(
    {"MESSAGE_ID": st.sampled_from([COREDUMP_MESSAGE_ID, SESSION_START_ID, SESSION_STOP_ID, "x"])},
    optional={
        k: journal_value
        for k in (
            "__REALTIME_TIMESTAMP",
            "COREDUMP_EXE",
            "COREDUMP_COMM",
            "COREDUMP_TIMESTAMP",
            "SESSION_ID",
            "USER_ID",
            "LEADER",
            "TYPE",
            "CLASS",
        )
    },
).map(lambda d: json.dumps(d))
journal_text = _lines(
    journal_entry,
    text,
    st.just("-- No entries --"),
    st.sampled_from(["[]", "1", "null", "{", '"x"']),
)


@examples(300)
@given(journal_text, st.floats(0, 2e9))
def test_journal_coredumps_and_logind_sessions(out: str, since: float) -> None:
    problems = Problems()
    entries = parse_entries(out, problems)
    assert all(isinstance(v, str) for e in entries for v in e.values())
    for crash in coredump_crashes(entries, since, problems):
        assert crash.app and "/" not in crash.app and crash.at >= 0
    for login in logind_logins(entries, problems):
        assert login.session_id and login.user and login.started_at > 0
    for e in entries:
        t = usec_field(e, "__REALTIME_TIMESTAMP")
        assert t is None or t > 0
        assert isinstance(app_name(e.get("COREDUMP_EXE", "")), str)


utmp = st.builds(
    lambda layout, t, pid, line, user, host, sec, usec: layout.fmt.pack(
        t, pid, line, b"", user, host, 0, 0, 0, sec % 2**32, usec, b"", b""
    ),
    st.sampled_from(LAYOUTS),
    st.integers(-5, 12),
    st.integers(-(2**31), 2**31 - 1),
    st.one_of(st.sampled_from([b":0", b"tty2", b"pts/1", b"~"]), st.binary(max_size=32)),
    st.one_of(st.sampled_from([b"alice", b"reboot", b""]), st.binary(max_size=32)),
    st.one_of(st.sampled_from([b"", b":0", b"10.0.0.1"]), st.binary(max_size=40)),
    st.integers(0, 2**32 - 1),
    st.integers(-(2**31), 2**31 - 1),
)


@examples(250)
@given(st.lists(utmp, max_size=6).map(b"".join), raw, st.floats(0, 2e9))
def test_wtmp(records: bytes, tail: bytes, boot_time: float) -> None:
    problems = Problems()
    parsed = parse_wtmp(records + tail[: len(tail) % 50], problems)
    assert len(parsed) <= (len(records) + len(tail)) // min(x.size for x in LAYOUTS)
    for login in wtmp_logins(parsed, boot_time):
        assert login.started_at >= boot_time and login.user


def _wtmpdb(rows: list[tuple[Any, ...]]) -> bytes:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE wtmp (ID INTEGER PRIMARY KEY, Type INTEGER, User, Login, Logout,"
        " TTY, RemoteHost, Service)"
    )
    db.executemany(
        "INSERT INTO wtmp (Type, User, Login, Logout, TTY, RemoteHost, Service)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    out = db.serialize()
    db.close()
    return out


cell = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    text,
    st.binary(max_size=20),
    st.floats(allow_nan=False),
)
wtmpdb_row = st.tuples(st.sampled_from([3, 1, 0]), cell, cell, cell, cell, cell, cell)
#: Not the empty file: sqlite3's deserialize raises MemoryError on b"" (see report).
wtmpdb_bytes = st.one_of(
    st.lists(wtmpdb_row, max_size=5).map(_wtmpdb), st.binary(min_size=1, max_size=1500)
)


@examples(150)
@given(wtmpdb_bytes, st.floats(0, 2e9))
def test_wtmpdb(data: bytes, boot_time: float) -> None:
    problems = Problems()
    for login in wtmpdb_logins(data, boot_time, problems):
        assert login.user and login.started_at > 0


@examples(200)
@given(
    raw,
    st.one_of(
        text,
        st.builds("xprop: window id # {}".format, word),
        st.builds("_NET_WM_PID(CARDINAL) = {}".format, digits),
    ),
)
def test_x11_os_release_markers_and_facts(data: bytes, out: str) -> None:
    assert isinstance(x11_display(parse_environ(data)), bool)
    win = active_window(out)
    assert win is None or win.startswith("0x")
    pid = window_pid(out)
    assert pid is None or pid > 0
    problems = Problems()
    assert isinstance(parse_os_release(out, problems), dict)
    assert form_factor(out[:40]) in ("", "desktop", "laptop", "tablet")
    marker = parse_ready_marker(data, problems)
    assert marker is None or (math.isfinite(marker.at) and marker.at > 0)
    assert _macos.parse_boottime(out) is None or _macos.parse_boottime(out) is not None
    assert _macos.form_factor(out) in ("", "desktop", "laptop")
    name = system_string(out)
    assert len(name) <= 64 and name == name.strip() and name.isprintable()
    assert windows_hardware.system_disk(out, problems) in ("", "ssd", "hdd")


number = st.one_of(st.floats(allow_nan=True), st.integers(-(2**70), 2**70), st.booleans(), text)
foreground_doc = st.fixed_dictionaries(
    {
        "session_id": st.one_of(word, text, number),
        "start": number,
        "end": number,
        "seconds": st.one_of(
            st.dictionaries(st.one_of(word, text), number, max_size=8), number, text
        ),
    }
).map(lambda d: json.dumps(d, allow_nan=True).encode())


@examples(300)
@given(st.one_of(raw, foreground_doc))
def test_foreground_handover_file(data: bytes) -> None:
    """What a user may write to the helper's folder: refused with ValueError, or a slice
    whose every value lies within its span."""
    try:
        piece = handover.parse(data)
    except ValueError:
        return
    span = piece.end - piece.start
    assert handover.valid_session(piece.session_id) and 0 < span <= handover.MAX_SPAN
    assert all(handover.valid_app(a) and 0 <= v <= span for a, v in piece.seconds.items())
    assert sum(piece.seconds.values()) <= span + 1.0


@examples(100)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["name", "username", "create_time"]),
            st.one_of(value, st.floats(), st.none(), st.booleans()),
            max_size=3,
        ),
        max_size=5,
    )
)
def test_shell_starts(infos: list[dict[str, Any]]) -> None:
    assert all(isinstance(s.started_at, float) for s in shell_starts(infos))


def _linux_reads(data: st.DataObject) -> Any:
    marker = st.builds(
        lambda at, sid: json.dumps({"at": at, "session_id": sid}).encode(),
        st.one_of(st.floats(), st.integers(), st.none(), text),
        st.one_of(st.none(), word),
    )

    def read(path: str) -> bytes:
        if data.draw(st.integers(0, 5)) == 0:
            raise FileNotFoundError(path)
        if path in (_linux.WTMPDB_PATH,):
            return data.draw(wtmpdb_bytes)
        if path == _linux.WTMP_PATH:
            return data.draw(st.lists(utmp, max_size=4).map(b"".join))
        if "/ready/" in path:
            return data.draw(st.one_of(marker, raw))
        return data.draw(st.one_of(raw, text.map(str.encode)))

    return read


@examples(250)
@given(st.data())
def test_linux_backend_on_garbled_sources(data: st.DataObject) -> None:
    lines = _lines(
        show_line,
        journal_entry,
        text,
        st.sampled_from(
            [
                "Type=x11",
                "Class=user",
                "Type=wayland",
                "ActiveEnterTimestamp=Thu 2024-05-02 07:14:03.123456 UTC",
            ]
        ),
    )
    root = st.builds(
        "_NET_ACTIVE_WINDOW(WINDOW): window id # {}".format,
        st.sampled_from(["0x0", "0x1", "0x3a00007"]),
    )
    pid = st.builds("_NET_WM_PID(CARDINAL) = {}".format, st.integers(0, 2**22).map(str))
    run = _fake_run(
        data,
        {
            "systemctl": lines,
            "journalctl": st.one_of(journal_text, lines),
            "loginctl": lines,
            "xprop": st.one_of(root, pid, text),
        },
    )
    env = Env(run=run, read_bytes=_linux_reads(data), state_dir="/nonexistent-fuzz")
    _check_backend(_linux, env)


def test_unpacked_utmp_layout_matches_the_struct() -> None:
    """The fuzzed wtmp records above are built with the parser's own layout; this pins it
    to glibc's 384-byte ``struct utmp`` so the generator cannot drift from real files."""
    assert UTMP.size == 384 == struct.calcsize("=h2xi32s4s32s256shhiIi16s20s")
