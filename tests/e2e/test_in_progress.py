"""A sign-in in progress shows in the collector's gauges while it lasts, and its final
duration lands in the histogram when it completes (real agent code, real collector process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.sources.signin import SigninSource
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import DeviceFacts, Phase, SigninObservation
from fleetpulse.contract.serde import record_to_bytes
from tests.e2e.test_pipeline import wait_for
from tests.procs import CollectorProc, cli, scrape, start_collector, value


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}", "--refresh-seconds", "0.2")
    yield c
    assert c.stop() == 0  # SIGTERM: drained and exited cleanly


def test_in_progress_signin_is_live_then_final(collector: CollectorProc, tmp_path: Path) -> None:
    token = cli(
        "fleetpulse-collector", "token", "create", "--site", "west", "--db", collector.db
    ).stdout.strip()
    facts = DeviceFacts("live-host", "windows", "11", "0.1.0")
    got = enroll(collector.grpc, token, facts)
    now = [time.time()]
    start = now[0] - 700.0  # the user has been waiting for almost 12 minutes
    observations = [SigninObservation("7", "dave", start)]
    source = SigninSource(
        Env(clock=lambda: now[0]),
        Memory(None),
        got.user_hash_key,
        observe=lambda _env, _boot: observations,
    )
    spool = Spool(str(tmp_path / "spool.db"))
    sender = Sender(collector.grpc, got.device_id, got.device_secret)

    def cycle() -> None:
        records = source.measure("boot-1", start - 60)
        spool.put((r.kind, record_to_bytes(r, now[0])) for r in records)
        assert sender.send(spool, facts).ok

    try:
        cycle()
        assert wait_for(
            lambda: (
                value(scrape(collector.metrics_url), "fleetpulse_logins_in_progress", site="west")
                == 1
            )
        )
        longest = value(
            scrape(collector.metrics_url),
            "fleetpulse_login_in_progress_longest_seconds",
            site="west",
        )
        assert 700 <= longest < 760
        assert value(scrape(collector.metrics_url), "fleetpulse_login_duration_seconds_count") == 0

        observations[0] = SigninObservation(
            "7",
            "dave",
            start,
            shell_started_at=start + 1790,
            desktop_ready_at=start + 1830,
            phases=(Phase("group_policy", 1500.0),),
        )
        now[0] = start + 1840
        cycle()
        assert wait_for(
            lambda: (
                value(scrape(collector.metrics_url), "fleetpulse_logins_in_progress", site="west")
                == 0
            )
        )
        samples = scrape(collector.metrics_url)
        assert value(samples, "fleetpulse_login_duration_seconds_count", site="west") == 1
        assert value(samples, "fleetpulse_login_duration_seconds_sum", site="west") == 1830.0
        assert (
            value(samples, "fleetpulse_login_duration_seconds_bucket", site="west", le="1800.0")
            == 0
        )
        assert (
            value(samples, "fleetpulse_login_duration_seconds_bucket", site="west", le="3600.0")
            == 1
        )
        assert (
            value(samples, "fleetpulse_login_phase_duration_seconds_sum", phase="group_policy")
            == 1500.0
        )
        assert value(samples, "fleetpulse_login_in_progress_longest_seconds", site="west") == 0
    finally:
        sender.close()
        spool.close()
