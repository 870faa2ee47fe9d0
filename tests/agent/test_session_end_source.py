"""The sign-in source sends each session's end once, remembered across restarts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.signin import SigninSource
from fleetpulse.contract.records import (
    EndReason,
    SigninEndRecord,
    SigninObservation,
    SigninRecord,
    SigninState,
)

READY = SigninObservation("7", "alice", 100.0, shell_started_at=110.0, desktop_ready_at=120.0)


def source(obs: list[SigninObservation], memory: Memory, now: float = 5000.0) -> SigninSource:
    return SigninSource(Env(clock=lambda: now), memory, b"k" * 32, observe=lambda _e, _b: obs)


def kinds(records: list[SigninRecord | SigninEndRecord]) -> list[str]:
    return [r.kind.value for r in records]


def test_an_end_is_sent_once_after_its_sign_in_and_not_again_after_a_restart(tmp_path: Path):
    obs = [READY]
    src = source(obs, Memory(tmp_path / "memory.json"))
    [signin] = src.measure("b1", 0.0)
    assert isinstance(signin, SigninRecord) and signin.state is SigninState.COMPLETE
    src.confirm()
    assert src.measure("b1", 0.0) == []  # still signed in: nothing new

    obs[0] = replace(READY, ended=True, ended_at=4000.25, end_reason=EndReason.DISCONNECT)
    [end] = src.measure("b1", 0.0)
    assert end == SigninEndRecord("7", "b1", 4000.25, EndReason.DISCONNECT)
    assert src.measure("b1", 0.0) == [end]  # not in the spool yet: measured again
    src.confirm()
    assert src.measure("b1", 0.0) == []

    restarted = source(obs, Memory(tmp_path / "memory.json"))
    assert restarted.measure("b1", 0.0) == []  # the memory file says both were sent
    assert restarted.measure("b2", 0.0) != []  # another boot's session 7 is another one


def test_a_sign_in_that_ends_before_it_was_reported_goes_out_with_its_end():
    ended = replace(READY, ended=True, ended_at=130.0, end_reason=EndReason.SIGN_OUT)
    src = source([ended], Memory(None))
    records = src.measure("b1", 0.0)
    assert kinds(records) == ["signin", "signin_end"]  # the spool keeps this order
    assert records[1] == SigninEndRecord("7", "b1", 130.0, EndReason.SIGN_OUT)


def test_an_end_only_session_is_sent_only_for_a_sign_in_this_agent_reported():
    end_only = SigninObservation(
        "7", "alice", 100.0, ended=True, ended_at=900.0, end_reason=EndReason.SIGN_OUT,
        end_only=True,
    )  # fmt: skip
    memory = Memory(None)
    assert source([end_only], memory).measure("b1", 0.0) == []  # maybe an ssh session
    memory.add("signin:b1:7")
    [end] = source([end_only], memory).measure("b1", 0.0)
    assert end == SigninEndRecord("7", "b1", 900.0, EndReason.SIGN_OUT)


def test_an_end_before_its_sign_in_is_unknown_and_counted_once():
    bad = replace(READY, ended=True, ended_at=50.0, end_reason=EndReason.SIGN_OUT)
    env = Env(clock=lambda: 5000.0)
    src = SigninSource(env, Memory(None), b"k" * 32, observe=lambda _e, _b: [bad])
    assert kinds(src.measure("b1", 0.0)) == ["signin"]
    src.confirm()
    assert src.measure("b1", 0.0) == []
    assert src.measure("b1", 0.0) == []
    assert env.problems.total == 1


def test_an_end_without_a_time_sends_nothing():
    ended = replace(READY, ended=True)  # the OS says it ended, not when
    src = source([ended], Memory(None))
    assert kinds(src.measure("b1", 0.0)) == ["signin"]
