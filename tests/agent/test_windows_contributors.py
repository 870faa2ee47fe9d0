"""Sign-in contributors on Windows, from recorded ``wevtutil qe /f:xml`` output.

tests/fixtures/windows/signin_contributors is one sign-in of CORP\\alice (newest first,
as wevtutil prints with /rd:true): four client-side extensions where Drive Maps takes
27 min 28.123 s, one of them not documented (the legacy LAPS extension, named by its
GUID); two logon scripts, one a UNC path with arguments; three Run-key startup
applications (quoted, unquoted with spaces, in the user's AppData) beside one of another
user; a temporary profile (User Profile Service 67).
"""

from __future__ import annotations

import pytest

from fleetpulse.agent.platform import _windows
from fleetpulse.agent.platform import windows_contributors as wc
from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.windows_events import parse_events
from fleetpulse.contract.phases import CONTRIBUTOR_KINDS
from fleetpulse.contract.records import Contributor
from tests.agent.test_windows_backend import at, env_for

BOOT = "2026-03-06T08:09:20"


def _contributors() -> list[Contributor]:
    (signin,) = _windows.signin_observations(env_for("signin_contributors", BOOT), at(BOOT))
    return list(signin.contributors)


def _ms(contributors: list[Contributor]) -> list[tuple[str, str, int]]:
    """Each contributor with its seconds in whole milliseconds (exact, not approximate)."""
    return [(c.kind, c.name, round(c.seconds * 1000)) for c in contributors]


def test_each_contributor_of_the_sign_in_to_the_millisecond() -> None:
    assert _ms(_contributors()) == [
        ("profile", "temporary", 8625),  # User Profile Service 1 -> 2, typed by 67
        ("gp_extension", "Registry", 412),
        ("gp_extension", "Drive Maps", 1648123),
        ("gp_extension", "Folder Redirection", 95250),
        ("gp_extension", "{D76B9641-3288-4F75-942D-087DE603E3EA}", 37),
        ("gp_script", "map_printers.cmd", 42318),  # 4019 -> 5019, not the 42 whole seconds
        ("gp_script", "inventory.vbs", 3250),
        ("startup_app", "teams.exe", 1250),
        ("startup_app", "cagent.exe", 330),
        ("startup_app", "onedrive.exe", 750),
    ]


def test_drive_maps_dominates_the_group_policy_time() -> None:
    found = _contributors()
    top = max(found, key=lambda c: c.seconds)
    assert (top.kind, top.name) == ("gp_extension", "Drive Maps")
    assert divmod(round(top.seconds), 60) == (27, 28)


def test_no_path_argument_or_user_name_in_any_name() -> None:
    for c in _contributors():
        assert c.kind in CONTRIBUTOR_KINDS
        assert "\\" not in c.name and "/" not in c.name
        if c.kind != "gp_extension":  # documented extension names have spaces; no others
            assert " " not in c.name
        assert "alice" not in c.name.casefold()
        assert len(c.name) <= wc.MAX_NAME


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ('"C:\\Program Files\\Teams\\Teams.exe" --system', "Teams.exe"),
        ("C:\\Program Files (x86)\\Contoso\\Agent\\cagent.exe -tray", "cagent.exe"),
        ("\\\\corp.example\\NETLOGON\\map.cmd /all", "map.cmd"),
        ("rundll32.exe C:\\Windows\\x.dll,Entry", "rundll32.exe"),
        ("logon.bat", "logon.bat"),
        ("C:\\Tools\\run me", "run"),  # no known extension: the first word, never the rest
        ("", ""),
        ('"C:\\odd\\na\x07me.exe"', ""),  # a control character: no name at all
    ],
)
def test_file_name_drops_folders_and_arguments(command: str, name: str) -> None:
    assert wc.file_name(command) == name


@pytest.mark.parametrize(
    "command",
    [
        # unquoted, no known extension, a space inside the path: the first word is a folder
        # of the path (here a profile folder named after its user), not the program
        "C:\\Users\\bob smith\\tools\\start.jar",
        "C:\\Users\\alice.smith\\",  # a folder, not a program
        "\\\\corp\\home$\\alice.smith\\",
    ],
)
def test_a_command_that_names_no_program_gives_no_name(command: str) -> None:
    assert wc.file_name(command) == ""


def test_extension_names_come_from_the_table_and_unknown_ones_are_guids() -> None:
    assert wc.extension_name("{5794dafd-be60-433f-88a2-1a31939ac01f}") == "Drive Maps"
    assert wc.extension_name("{11111111-2222-3333-4444-555555555555}") == (
        "{11111111-2222-3333-4444-555555555555}"
    )
    assert wc.extension_name("") == ""


def _gp(xml: str) -> list:  # type: ignore[type-arg]
    problems = Problems()
    events = parse_events(xml, "windows.group_policy", problems)
    assert problems.total == 0
    return events


def _event(event_id: int, time: str, fields: dict[str, str]) -> str:
    data = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in fields.items())
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-GroupPolicy'/>"
        f"<EventID>{event_id}</EventID><TimeCreated SystemTime='{time}'/>"
        "<Correlation ActivityID='{AAAAAAAA-0000-0000-0000-000000000001}'/>"
        f"</System><EventData>{data}</EventData></Event>\n"
    )


def test_a_script_without_its_start_event_has_its_whole_seconds() -> None:
    events = _gp(
        _event(
            5019,
            "2026-03-06T08:00:10.0000000Z",
            {"ScriptElaspedTimeInSeconds": "7", "ErrorCode": "0", "ScriptName": "a.cmd"},
        )
    )
    assert wc.scripts(events, {"AAAAAAAA-0000-0000-0000-000000000001"}) == [
        Contributor("gp_script", "a.cmd", 7.0)
    ]
    assert wc.scripts(events, {"OTHER"}) == []


def test_an_extension_without_its_milliseconds_uses_its_timestamps() -> None:
    guid = "{25537BA6-77A8-11D2-9B6C-0000F8080861}"
    events = _gp(
        _event(4016, "2026-03-06T08:00:00.2500000Z", {"CSEExtensionId": guid})
        + _event(7016, "2026-03-06T08:00:03.0000000Z", {"CSEExtensionId": guid})
    )
    (c,) = wc.extensions(events, "AAAAAAAA-0000-0000-0000-000000000001")
    assert (c.name, round(c.seconds * 1000)) == ("Folder Redirection", 2750)


def test_at_most_the_64_longest_are_kept_in_order() -> None:
    many = [Contributor("startup_app", f"app{i}.exe", float(i % 100)) for i in range(200)]
    kept = wc.bounded([Contributor("startup_app", "bad.exe", -1.0), *many])
    assert len(kept) == wc.MAX_CONTRIBUTORS
    assert min(c.seconds for c in kept) >= 68  # the 64 longest of 0..99 twice over
    assert [c.name for c in kept] == sorted(
        (c.name for c in kept), key=lambda n: int(n[3:-4])
    )  # event order kept


def test_no_profile_type_event_means_no_profile_contributor() -> None:
    (signin,) = _windows.signin_observations(
        env_for("gp_30min_logon", "2026-03-04T08:55:37.9"), at("2026-03-04T08:55:37.9")
    )
    assert all(c.kind != "profile" for c in signin.contributors)
