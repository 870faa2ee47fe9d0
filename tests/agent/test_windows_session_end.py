"""When and how Windows sign-ins ended, from recorded ``wevtutil qe /f:xml`` output.

tests/fixtures/windows/session_ends holds the Security and
TerminalServices-LocalSessionManager/Operational logs (newest first) of one machine:
alice signs out at the console (4647, then a 4634 for each of her split-token logon ids),
bob disconnects from Remote Desktop (4779 by LogonID, LocalSessionManager 24 15 ms later),
carol's machine audits no logoffs (only LocalSessionManager 23 tells her end, and a 24 of
her earlier session must not), dave is still signed in.
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
from fleetpulse.agent.platform.windows_session_end import session_end
from fleetpulse.contract.records import EndReason, SigninObservation

SCENARIO = Path(__file__).parent.parent / "fixtures" / "windows" / "session_ends"
BOOT = "2026-03-03T07:55:00"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def env(*, session_manager: bool = True, calls: list[list[str]] | None = None) -> Env:
    logs = {"Security": "Security.xml"}
    if session_manager:
        logs[_windows.LOG_SESSION_MANAGER] = "LocalSessionManager.xml"

    def run(argv: Sequence[str]) -> str:
        if calls is not None:
            calls.append(list(argv))
        if list(argv[:2]) == ["wevtutil", "qe"]:
            name = logs.get(argv[2])
            return (SCENARIO / name).read_text() if name else ""
        raise SourceUnavailable(f"{argv[0]}: not recorded")

    return Env(run=run, ps=SimpleNamespace(boot_time=lambda: at(BOOT)))


def by_user(found: list[SigninObservation]) -> dict[str, SigninObservation]:
    return {o.user.split("\\")[1]: o for o in found}


def test_each_sign_in_ends_when_and_how_its_events_say_to_the_millisecond():
    e = env()
    seen = by_user(_windows.signin_observations(e, at(BOOT)))
    assert e.problems.total == 0
    assert sorted(seen) == ["alice", "bob", "carol", "dave"]
    alice, bob, carol, dave = (seen[u] for u in ("alice", "bob", "carol", "dave"))
    # 4647 (user-initiated logoff) comes before the 4634s of both split-token logon ids
    assert alice.end_reason is EndReason.SIGN_OUT
    assert alice.ended_at == pytest.approx(at("2026-03-03T08:03:40.123988"), abs=0.001)
    assert alice.ended_at - alice.started_at == pytest.approx(147.778, abs=0.001)
    # 4779 by LogonID, 15 ms before LocalSessionManager 24 says the same
    assert bob.end_reason is EndReason.DISCONNECT
    assert bob.ended_at == pytest.approx(at("2026-03-03T09:42:17.250"), abs=0.001)
    # only LocalSessionManager 23; the 24 of her session before this one is not hers
    assert carol.end_reason is EndReason.SIGN_OUT
    assert carol.ended_at == pytest.approx(at("2026-03-03T10:25:30.777"), abs=0.001)
    assert all(o.ended for o in (alice, bob, carol))
    assert (dave.ended, dave.ended_at, dave.end_reason) == (False, None, None)


def test_without_the_session_manager_log_a_logoff_less_machine_leaves_the_end_unknown():
    seen = by_user(_windows.signin_observations(env(session_manager=False), at(BOOT)))
    assert seen["carol"].ended_at is None and seen["carol"].end_reason is None
    assert not seen["carol"].ended
    assert seen["bob"].end_reason is EndReason.DISCONNECT  # the Security log still says


def test_the_queries_ask_for_the_end_events():
    calls: list[list[str]] = []
    _windows.signin_observations(env(calls=calls), at(BOOT))
    security = next(c for c in calls if c[2] == "Security")
    assert "EventID=4647 or EventID=4779" in security[3]
    lsm = next(c for c in calls if c[2] == _windows.LOG_SESSION_MANAGER)
    assert "EventID=23 or EventID=24" in lsm[3]
    assert "/f:xml" in lsm and "/rd:true" in lsm


def test_an_end_of_another_logon_id_or_account_or_before_the_start_is_not_this_one():
    problems = Problems()
    security = parse_events((SCENARIO / "Security.xml").read_text(), "s", problems)
    lsm = parse_events((SCENARIO / "LocalSessionManager.xml").read_text(), "l", problems)
    assert problems.total == 0
    start, carol = at("2026-03-03T10:00:00"), frozenset({0x8D0001})
    inf = float("inf")
    assert session_end(carol, "CORP\\carol", start, inf, security, lsm) == (
        pytest.approx(at("2026-03-03T10:25:30.777"), abs=0.001),
        EndReason.SIGN_OUT,
    )
    # carol's logon id with bob's account name: no Security event names 0x8d0001
    assert session_end(carol, "CORP\\bob", start, inf, security, lsm) is None
    # carol's account, her window closed (her next sign-in) before the 23
    closed = at("2026-03-03T10:20:00")
    assert session_end(carol, "CORP\\carol", start, closed, security, lsm) is None
    # alice's ids but a start after her logoff: that 4647 ended an earlier session
    later = at("2026-03-03T08:05:00")
    assert session_end(frozenset({0x5B1E20}), "CORP\\alice", later, inf, security, lsm) is None
