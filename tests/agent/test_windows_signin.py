"""What counts as a Windows sign-in: each kind of Security 4624 with its right value.

Fixtures in tests/fixtures/windows/logon_kinds are ``wevtutil qe Security /f:xml`` output
(newest first); ``runas.xml`` is the real capture from a Windows 11 machine, as-is. Most
files hold the excluded logon beside a real console sign-in of ``user1`` (a UAC split
token: two linked 4624s), which must still be reported, once, and unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import _windows
from fleetpulse.agent.platform.env import Env, Problems
from fleetpulse.agent.platform.windows_events import parse_events
from fleetpulse.agent.platform.windows_signin import Logon, interactive_logons

KINDS = Path(__file__).parent.parent / "fixtures" / "windows" / "logon_kinds"
USER1_SID = "S-1-5-21-1111111111-2222222222-333333333-1001"
#: user1's console sign-in in every "beside" fixture: Winlogon, User32, split token.
USER1_SIGN_IN_AT = "2026-09-21T13:02:11.4470118"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def logons(name: str, since: str = "2026-09-21T00:00:00") -> list[Logon]:
    problems = Problems()
    events = parse_events((KINDS / name).read_text(), "windows.security", problems)
    found = interactive_logons(events, at(since), problems)
    assert problems.total == 0
    return found


def security_only(name: str) -> Env:
    """The Windows backend with only the Security log recorded (the rest is empty)."""
    text = (KINDS / name).read_text()

    def run(argv: Sequence[str]) -> str:
        if list(argv[:3]) == ["wevtutil", "qe", "Security"]:
            return text
        if argv[0] == "wevtutil":
            return ""
        raise SourceUnavailable(f"{argv[0]}: not recorded")

    return Env(run=run, ps=SimpleNamespace(boot_time=lambda: at("2026-09-21T13:01:30")))


def assert_only_user1(found: list[Logon]) -> None:
    (logon,) = found
    assert logon.account == "PC1\\user1"
    assert logon.sid == USER1_SID
    assert logon.logon_ids == frozenset({0x12AB91, 0x12ABB7})
    assert logon.started_at == pytest.approx(at(USER1_SIGN_IN_AT), abs=0.001)


def test_the_real_runas_logon_is_no_sign_in():
    # LogonType 2 like a console sign-in, but LogonProcessName seclogo (Secondary Logon).
    assert logons("runas.xml") == []
    env = security_only("runas.xml")
    assert _windows.signin_observations(env, at("2026-09-21T13:01:30")) == []


def test_runas_beside_a_console_sign_in_leaves_exactly_that_sign_in():
    assert_only_user1(logons("runas_beside_console.xml"))


def test_runas_with_the_signed_in_account_does_not_glue_onto_its_sign_in():
    # "Run as different user" naming user1's own account: same SID, same account name.
    # Counted, it would be a second sign-in of user1 that never reaches a shell, and
    # would cut user1's real sign-in window short at 13:31.
    assert_only_user1(logons("runas_same_account.xml"))
    env = security_only("runas_same_account.xml")
    (signin,) = _windows.signin_observations(env, at("2026-09-21T13:01:30"))
    assert signin.session_id == f"win-12ab91-{int(at(USER1_SIGN_IN_AT))}"
    assert signin.user == "PC1\\user1"


@pytest.mark.parametrize(
    "name",
    [
        "advapi_logonuser.xml",  # a program calling LogonUser: type 2, Advapi
        "runas_netonly.xml",  # runas /netonly: type 9 NewCredentials, seclogo
        "scheduled_task.xml",  # a task with stored credentials: type 4 batch, Advapi
        "service_account.xml",  # a service under a local account: type 5
        "network_share.xml",  # a file share opened from another machine: type 3
        "virtual_and_system_accounts.xml",  # NT SERVICE, DWM, UMFD, LOCAL SERVICE
    ],
)
def test_logons_that_start_no_desktop_are_no_sign_ins(name: str):
    assert_only_user1(logons(name))


def test_remote_desktop_cached_and_entra_id_sign_ins_are_sign_ins():
    found = logons("desktop_sign_ins.xml")
    assert [(x.account, x.sid[:9]) for x in found] == [
        ("CORP\\alice", "S-1-5-21-"),  # type 11, cached credentials
        ("AzureAD\\bob@contoso.com", "S-1-12-1-"),  # type 2, Microsoft Entra ID account
        ("PC1\\user2", "S-1-5-21-"),  # type 10, Remote Desktop
    ]
    assert [x.started_at for x in found] == pytest.approx(
        [
            at("2026-09-21T08:05:02.309"),
            at("2026-09-21T09:30:17.552"),
            at("2026-09-21T15:12:40.665"),
        ],
        abs=0.001,
    )
