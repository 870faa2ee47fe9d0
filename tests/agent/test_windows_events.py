"""The wevtutil XML parser on recorded output and on broken input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.windows_events import (
    format_time,
    normalize_guid,
    parse_bool,
    parse_events,
    parse_int,
    parse_time,
    split_events,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "windows"
NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def recorded(scenario: str, log_file: str) -> str:
    # As env.run_command decodes wevtutil's stdout.
    return (FIXTURES / scenario / log_file).read_bytes().decode("utf-8", "replace")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_system_header_and_named_fields_are_read():
    problems = Problems()
    events = parse_events(recorded("fast_logon", "GroupPolicy.xml"), "gp", problems)
    assert problems.total == 0
    start = next(e for e in events if e.event_id == 4001)
    assert start.provider == "Microsoft-Windows-GroupPolicy"
    assert start.activity_id == "3F8E6A21-9B4D-4C7E-A1F0-5D2C8B7E6A90"
    assert start.user_sid == "S-1-5-18"
    assert start.computer == "PC-0042.corp.example"
    assert start.get("PrincipalSamName") == "CORP\\alice"
    assert start.get("NoSuchField") is None
    assert start.time == pytest.approx(at("2026-03-02T08:15:06.400"), abs=1e-6)


def test_seven_fraction_digits_keep_sub_millisecond_precision():
    assert parse_time("2026-03-02T08:15:04.1234567Z") == pytest.approx(
        at("2026-03-02T08:15:04.123456") + 0.0000007, abs=1e-6
    )
    # FILETIME fields come with nine digits.
    assert parse_time("2026-03-02T07:58:09.500000000Z") == pytest.approx(
        at("2026-03-02T07:58:09.5"), abs=1e-6
    )
    assert parse_time("2026-03-02T07:58:09Z") == at("2026-03-02T07:58:09")


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-02T07:58:09Z", "2026-03-02"])
def test_not_a_time_is_none(text: str):
    assert parse_time(text) is None


def test_format_time_is_what_xpath_compares_against():
    assert format_time(at("2026-03-02T08:15:04.1239")) == "2026-03-02T08:15:04.124Z"
    assert format_time(at("2026-03-02T08:15:04.9996")) == "2026-03-02T08:15:05.000Z"


def test_scalars():
    assert parse_int("0x4a3f12") == 0x4A3F12
    assert parse_int(" 38211 ") == 38211
    assert parse_int("%%1843") is None
    assert parse_int(None) is None
    assert parse_bool("true") is True
    assert parse_bool("False") is False
    assert parse_bool("maybe") is None
    assert normalize_guid("{e4db489e-1037-0003-0982-dbe43710da01}") == (
        "E4DB489E-1037-0003-0982-DBE43710DA01"
    )


def test_events_without_a_root_element_or_separators_are_split():
    one = recorded("fast_logon", "UserProfileService.xml").strip().splitlines()
    glued = "".join(line.strip() for line in one)  # no newline between events at all
    assert len(split_events(glued)) == 2
    assert [e.event_id for e in parse_events(glued, "ups", Problems())] == [2, 1]


def test_user_data_fields_are_read_by_name():
    text = (
        f"<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-User Profiles Service'/>"
        "<EventID>1</EventID><TimeCreated SystemTime='2026-03-02T08:15:05.1000000Z'/>"
        "<Security UserID='S-1-5-21-1-2-3-1106'/></System>"
        "<UserData><EventXML xmlns='Event_NS'><Session>1</Session><Path></Path></EventXML>"
        "</UserData></Event>"
    )
    (event,) = parse_events(text, "ups", Problems())
    assert event.get("Session") == "1"
    assert event.get("Path") == ""
    assert event.user_sid == "S-1-5-21-1-2-3-1106"


def test_unnamed_data_is_kept_in_order():
    problems = Problems()
    events = parse_events(recorded("crash", "Application.xml"), "app", problems)
    legacy = next(e for e in events if not e.data)
    assert legacy.positional[0] == "legacyapp.exe"


def test_malformed_events_are_skipped_counted_and_the_rest_parses():
    problems = Problems()
    events = parse_events(recorded("malformed", "Security.xml"), "windows.security", problems)
    # truncated, broken markup bytes (+ trailing garbage), and an invalid TimeCreated.
    assert problems.counts["windows.security"] == 3
    assert sorted(e.event_id for e in events) == [4624, 4624, 4688, 4688]
    explorer = next(e for e in events if (e.get("NewProcessName") or "").endswith("explorer.exe"))
    assert "\ufffd" in (explorer.get("CommandLine") or "")  # undecodable value, event kept


def test_lone_surrogates_do_not_escape_the_parser():
    raw = (FIXTURES / "fast_logon" / "UserProfileService.xml").read_bytes()
    text = raw.replace(b"<Data Name='Session'>1<", b"<Data Name='Session'>\xff<", 1)
    problems = Problems()
    events = parse_events(text.decode("utf-8", "surrogateescape"), "ups", problems)
    assert problems.total == 1
    assert len(events) == 1


@pytest.mark.parametrize("garbage", ["\x00\x01binary junk", "Access is denied.", "<NotAnEvent/>"])
def test_garbage_output_is_one_problem_and_no_events(garbage: str):
    problems = Problems()
    assert parse_events(garbage, "windows.system", problems) == []
    assert problems.counts["windows.system"] == 1


def test_empty_output_means_no_events_not_a_problem():
    problems = Problems()
    assert parse_events("\r\n", "windows.system", problems) == []
    assert problems.total == 0
