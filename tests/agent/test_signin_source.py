from __future__ import annotations

from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.signin import ResponsiveProbe, SigninSource, user_hash
from fleetpulse.contract.records import Phase, SigninObservation, SigninState


def source(obs: list[SigninObservation], now: list[float]) -> SigninSource:
    env = Env(clock=lambda: now[0])
    return SigninSource(env, Memory(None), b"k" * 32, observe=lambda _e, _b: obs)


def test_probe_ends_responsive_at_start_of_quiet_window() -> None:
    probe = ResponsiveProbe(shell_started_at=100.0)
    probe.sample(101.0, 90)
    assert probe.ready_at is None
    for t, cpu in [
        (100.5, 95),
        (101.0, 80),
        (101.5, 30),
        (102.0, 70),
        (102.5, 20),
        (103.0, 10),
        (104.0, 5),
        (104.5, 5),
    ]:
        probe.sample(t, cpu)
    assert probe.ready_at == 102.5


def test_signin_in_progress_then_complete_with_phases() -> None:
    now = [1000.0]
    obs = [SigninObservation("1", "alice", started_at=900.0)]
    src = source(obs, now)
    [live] = src.measure("boot", 0.0)
    assert live.state is SigninState.IN_PROGRESS
    assert live.elapsed_seconds == 100.0
    assert live.total_seconds is None
    assert live.user_hash == user_hash(b"k" * 32, "alice") and "alice" not in live.user_hash

    obs[0] = SigninObservation(
        "1", "alice", 900.0, shell_started_at=1030.0, phases=(Phase("group_policy", 100.0),)
    )
    now[0] = 1031.0
    [waiting] = src.measure("boot", 0.0)
    assert waiting.state is SigninState.IN_PROGRESS
    assert src.awaiting_responsive
    for t in (1031.0, 1032.0, 1033.5):
        src.sample_cpu(t, 10.0)
    [done] = src.measure("boot", 0.0)
    assert done.state is SigninState.COMPLETE
    assert done.total_seconds == 131.0
    assert dict((p.name, p.seconds) for p in done.phases) == {
        "core": 130.0,
        "responsive": 1.0,
        "group_policy": 100.0,
    }
    assert src.measure("boot", 0.0) != []  # not in the spool yet: measured again
    src.confirm()  # committed to the spool
    assert src.measure("boot", 0.0) == []  # reported once


def test_shell_started_before_agent_watched_gives_unknown_total() -> None:
    now = [5000.0]
    src = source([SigninObservation("2", "bob", 100.0, shell_started_at=160.0)], now)
    [rec] = src.measure("boot", 0.0)
    assert rec.state is SigninState.COMPLETE
    assert rec.total_seconds is None
    assert [(p.name, p.seconds) for p in rec.phases] == [("core", 60.0)]


def test_session_ready_marker_completes_signin() -> None:
    now = [500.0]
    src = source(
        [SigninObservation("3", "carol", 100.0, shell_started_at=130.0, desktop_ready_at=190.0)],
        now,
    )
    [rec] = src.measure("boot", 0.0)
    assert rec.total_seconds == 90.0
    assert [(p.name, p.seconds) for p in rec.phases] == [("core", 30.0), ("responsive", 60.0)]


# --- plausibility (fleetpulse.agent.plausibility), on every platform's sign-ins -------------------


def test_a_signin_starting_in_the_future_is_not_reported() -> None:
    now = [1000.0]
    src = source([SigninObservation("9", "zoe", started_at=1000.0 + 3600)], now)
    assert src.measure("boot", 0.0) == []
    assert src._env.problems.counts["plausibility"] == 1
    src.measure("boot", 0.0)  # the same value next cycle is the same problem
    assert src._env.problems.counts["plausibility"] == 1


def test_a_signin_before_this_boot_is_not_reported() -> None:
    src = source([SigninObservation("9", "zoe", started_at=100.0)], [1000.0])
    assert src.measure("boot", 900.0) == []


def test_shell_before_the_signin_is_unknown_not_zero() -> None:
    """Formerly clamped to a 0 s ``core``: a guess that looked like a perfect sign-in."""
    src = source([SigninObservation("4", "dan", 500.0, shell_started_at=430.0)], [5000.0])
    [rec] = src.measure("boot", 0.0)
    assert rec.phases == () and rec.total_seconds is None
    assert src._env.problems.counts["plausibility"] == 1


def test_ready_mark_before_the_shell_and_implausible_phases_are_unknown() -> None:
    obs = SigninObservation(
        "5", "eve", 100.0, shell_started_at=130.0, desktop_ready_at=120.0,
        phases=(Phase("group_policy", -3.0), Phase("profile", 99999.0), Phase("gp_scripts", 4.0)),
    )  # fmt: skip
    src = source([obs], [200.0])
    [rec] = src.measure("boot", 0.0)
    assert rec.state is SigninState.IN_PROGRESS  # readiness not yet known
    assert [(p.name, p.seconds) for p in rec.phases] == [("core", 30.0), ("gp_scripts", 4.0)]
    assert src._env.problems.counts["plausibility"] == 3


def test_future_shell_start_is_unknown() -> None:
    src = source([SigninObservation("6", "fay", 900.0, shell_started_at=9000.0)], [1000.0])
    [rec] = src.measure("boot", 0.0)
    assert rec.state is SigninState.IN_PROGRESS and rec.phases == ()
