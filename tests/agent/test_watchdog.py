"""The agent's self-limits: decisions from injected process samples, and a real agent
process that exits with 75 past its RSS ceiling."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.watchdog import EXIT_CODE, MIB, Action, Guard, Limits, Sample, Watchdog
from tests.e2e.test_pipeline import enroll
from tests.procs import BIN, CollectorProc, start_collector


def feed(samples: list[Sample]) -> Watchdog:
    it: Iterator[Sample] = iter(samples)
    return Watchdog(Limits(), lambda: next(it))


def test_cpu_over_the_ceiling_doubles_the_interval_then_relaxes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rss = 30 * MIB
    dog = feed(
        [
            Sample(rss, 0.0, 0.0),
            Sample(rss, 1.2, 60.0),
            Sample(rss, 2.4, 120.0),
            Sample(rss, 2.4, 180.0),
            Sample(rss, 2.41, 240.0),
            Sample(rss, 2.41, 300.0),
        ]
    )
    caplog.set_level(logging.INFO, "fleetpulse.agent.watchdog")
    seen = [dog.check() for _ in range(6)]
    assert [(v.action, v.factor) for v in seen] == [
        (Action.OK, 1.0),
        (Action.THROTTLE, 2.0),
        (Action.THROTTLE, 4.0),
        (Action.RELAX, 2.0),
        (Action.RELAX, 1.0),
        (Action.OK, 1.0),
    ]
    assert seen[1].reason == "CPU 2.00 % > 0.5 %: measuring 2x less often"
    assert "CPU 2.00 % > 0.5 %: measuring 2x less often" in caplog.messages


def test_cpu_throttling_stops_at_eight_times_and_the_rss_ceiling_exits() -> None:
    rss = 55 * MIB  # the measured steady RSS of `run`: under the default ceiling
    dog = feed(
        [Sample(rss, float(t), float(t * 10)) for t in range(6)] + [Sample(97 * MIB, 6.0, 60.0)]
    )
    factors = [dog.check().factor for _ in range(6)]
    assert factors == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # 10 % CPU each check
    last = dog.check()
    assert last.action is Action.EXIT
    assert last.reason.startswith("RSS 97.0 MiB is over the 96 MiB ceiling")


class Paced:
    def __init__(self) -> None:
        self.interval = 60.0


def test_guard_sets_the_interval_and_follows_the_collectors_settings() -> None:
    rss, agent, stop = 30 * MIB, Paced(), threading.Event()
    samples = iter(
        [
            Sample(rss, 0.0, 0.0),
            Sample(rss, 3.0, 60.0),
            Sample(rss, 6.0, 120.0),
            Sample(200 * MIB, 6.0, 180.0),
        ]
    )
    guard = Guard(agent, stop, Watchdog(Limits(), lambda: next(samples)))
    guard.step()
    assert agent.interval == 60.0
    guard.step()
    assert agent.interval == 120.0
    agent.interval = 300.0  # the collector asked for a slower pace meanwhile
    guard.step()
    assert agent.interval == 1200.0  # its 300 s, throttled 4x
    assert guard.exit_code is None and not stop.is_set()
    guard.step()
    assert guard.exit_code == EXIT_CODE and stop.is_set()


def test_limits_from_the_environment() -> None:
    assert Limits.from_env({}) == Limits(0.5, 96 * MIB, 60.0)
    got = Limits.from_env(
        {
            "FLEETPULSE_RSS_MAX_MIB": "80",
            "FLEETPULSE_CPU_PERCENT": "1",
            "FLEETPULSE_WATCHDOG_SECONDS": "5",
        }
    )
    assert got == Limits(1.0, 80 * MIB, 5.0)
    with pytest.raises(ConfigError, match="FLEETPULSE_CPU_PERCENT must be a number"):
        Limits.from_env({"FLEETPULSE_CPU_PERCENT": "lots"})
    with pytest.raises(ConfigError, match="FLEETPULSE_RSS_MAX_MIB must be > 0"):
        Limits.from_env({"FLEETPULSE_RSS_MAX_MIB": "0"})


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    yield c
    c.stop()


def test_agent_process_exits_75_past_its_rss_ceiling(
    collector: CollectorProc, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    enroll(collector.grpc, collector.db, state)
    env = {"FLEETPULSE_RSS_MAX_MIB": "1", "FLEETPULSE_WATCHDOG_SECONDS": "0.5"}

    done = subprocess.run(
        [str(BIN / "fleetpulse-agent"), "run", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == EXIT_CODE, done.stderr
    assert "MiB ceiling: exiting for the service manager to start a fresh agent" in done.stderr
    assert "Traceback" not in done.stderr
