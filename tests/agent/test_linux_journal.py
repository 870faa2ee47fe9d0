"""Journal export lines: logind session entries and systemd-coredump entries, including
truncated and non-UTF-8 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_journal import app_name, coredump_crashes, parse_entries
from fleetpulse.agent.platform.linux_logind import classify, logind_logins, parse_properties

FIXTURES = Path(__file__).parent.parent / "fixtures" / "linux"


def journal(name: str) -> str:
    # Decoded the way the real command runner decodes journalctl's stdout.
    return (FIXTURES / name).read_bytes().decode("utf-8", "replace")


def test_session_entries_parse_and_bad_lines_are_counted():
    problems = Problems()
    entries = parse_entries(journal("journal-logind-sessions.jsonl"), problems)
    # 11 lines: the truncated one is not JSON; the two non-UTF-8 user names are dropped
    # fields, so those entries stay (and are rejected by the logind reader below).
    assert len(entries) == 10
    assert problems.counts["journal"] == 1

    logins = logind_logins(entries, problems)
    assert problems.counts["journal"] == 3
    by_id = {x.session_id: x for x in logins}
    assert sorted(by_id) == ["2", "3", "4", "5", "6", "c1"]
    assert by_id["2"].user == "alice"
    assert by_id["2"].started_at == pytest.approx(1714634043.123456, abs=1e-6)
    # logind v249-v256 logs SESSION_ID, USER_ID and LEADER only (logind-session.c,
    # session_start): the session's type is asked of loginctl later, not read here.
    assert all(x.graphical is None for x in logins)
    assert by_id["3"].ended is True  # logged out
    assert by_id["5"].ended is True and by_id["6"].ended is False
    assert all(x.logind for x in logins)


def test_newer_logind_type_and_class_are_used_when_present():
    problems = Problems()
    line = (
        '{"__REALTIME_TIMESTAMP":"1714634043123456","MESSAGE_ID":"8d45620c1a4348dbb17410da57c60c66",'
        '"SESSION_ID":"7","USER_ID":"alice","LEADER":"1822","TYPE":"wayland","CLASS":"user"}'
    )
    [login] = logind_logins(parse_entries(line, problems), problems)
    assert login.graphical is True and problems.total == 0


def test_byte_array_fields_decode_when_they_are_utf8():
    problems = Problems()
    [entry] = parse_entries(
        '{"USER_ID":[106,111,115,195,169],"MULTI":["a","b"],"BIG":null}', problems
    )
    assert entry == {"USER_ID": "josé", "MULTI": "a"}
    assert problems.total == 0


def test_no_entries_note_is_not_a_problem():
    problems = Problems()
    assert parse_entries("-- No entries --\n\n", problems) == []
    assert problems.total == 0


def test_coredumps_name_the_executable_only_and_skip_bad_entries():
    problems = Problems()
    entries = parse_entries(journal("journal-coredumps.jsonl"), problems)
    assert problems.counts["journal"] == 1  # "[1,2,3]" is not an object
    crashes = coredump_crashes(entries, since=1714635050.0, problems=problems)
    assert problems.counts["journal"] == 2  # the entry without a valid time
    assert [(c.app, c.at) for c in crashes] == [
        ("vendor-app", pytest.approx(1714635099.5, abs=1e-6)),
        ("gnome-calculato", pytest.approx(1714635199.0, abs=1e-6)),
        ("evince", pytest.approx(1714635300.0, abs=1e-6)),  # no COREDUMP_TIMESTAMP
    ]
    assert all("/" not in c.app for c in crashes)


def test_coredump_window_is_inclusive_of_since():
    problems = Problems()
    entries = parse_entries(journal("journal-coredumps.jsonl"), problems)
    crashes = coredump_crashes(entries, since=1714635000.4, problems=problems)
    assert crashes[0].app == "firefox"
    assert crashes[0].at == pytest.approx(1714634999.812345, abs=1e-6)


@pytest.mark.parametrize(
    ("exe", "name"),
    [
        ("/usr/bin/gnome-shell", "gnome-shell"),
        ("/opt/Vendor App/bin/app (deleted)", "app"),
        ("bare", "bare"),
    ],
)
def test_app_name_strips_paths(exe: str, name: str):
    assert app_name(exe) == name


@pytest.mark.parametrize(
    ("session_type", "session_class", "graphical"),
    [
        ("wayland", "user", True),
        ("x11", None, True),
        ("x11", "greeter", False),
        ("wayland", "lock-screen", False),
        ("tty", "user", False),
        ("unspecified", "user", None),
        (None, "manager", False),
        (None, None, None),
    ],
)
def test_classify_sessions(
    session_type: str | None, session_class: str | None, graphical: bool | None
):
    assert classify(session_type, session_class) is graphical


def test_loginctl_properties():
    assert parse_properties("Type=x11\nClass=user\n\nnoise\n") == {"Type": "x11", "Class": "user"}
