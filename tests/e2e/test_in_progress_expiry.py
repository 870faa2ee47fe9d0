"""A sign-in whose agent stops reporting leaves the in-progress gauges after three report
intervals and is counted as expired, while a sign-in whose agent keeps reporting stays
(real collector process, real sender; the site's central interval is 1 s)."""

from __future__ import annotations

import time
from pathlib import Path

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState
from fleetpulse.contract.serde import record_to_bytes
from tests.e2e.test_pipeline import wait_for
from tests.procs import cli, scrape, start_collector, value

FACTS = DeviceFacts("live-host", "windows", "11", "0.1.0")


def test_stale_sign_in_expires_and_is_counted(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli("fleetpulse-collector", "migrate", "--db", db).returncode == 0
    done = cli(
        "fleetpulse-collector",
        "settings",
        "set",
        "report_interval_seconds=1",
        "--site",
        "west",
        "--db",
        db,
    )
    assert done.returncode == 0, done.stderr
    collector = start_collector(db, "--refresh-seconds", "0.2")
    senders: list[Sender] = []
    spools: list[Spool] = []
    try:

        def device(name: str) -> tuple[Sender, Spool]:
            token = cli(
                "fleetpulse-collector", "token", "create", "--site", "west", "--db", db
            ).stdout.strip()
            got = enroll(collector.grpc, token, FACTS)
            senders.append(Sender(collector.grpc, got.device_id, got.device_secret))
            spools.append(Spool(str(tmp_path / f"{name}.db")))
            return senders[-1], spools[-1]

        started = time.time() - 120

        def progress(sender: Sender, spool: Spool) -> None:
            now = time.time()
            rec = SigninRecord(
                "1", "boot-1", "h", started, SigninState.IN_PROGRESS, elapsed_seconds=now - started
            )
            spool.put([(rec.kind, record_to_bytes(rec, now))])
            assert sender.send(spool, FACTS).ok

        dead, alive = device("dead"), device("alive")
        progress(*dead)
        progress(*alive)
        assert wait_for(
            lambda: (
                value(scrape(collector.metrics_url), "fleetpulse_logins_in_progress", site="west")
                == 2
            )
        )
        assert (
            value(
                scrape(collector.metrics_url),
                "fleetpulse_logins_in_progress_expired_total",
                site="west",
            )
            == 0
        )
        # the first agent dies; the second reports every half interval for 5 s
        end = time.monotonic() + 5
        while time.monotonic() < end:
            progress(*alive)
            time.sleep(0.5)
        samples = scrape(collector.metrics_url)
        assert value(samples, "fleetpulse_logins_in_progress", site="west") == 1
        assert value(samples, "fleetpulse_logins_in_progress_expired_total", site="west") == 1
        longest = value(samples, "fleetpulse_login_in_progress_longest_seconds", site="west")
        assert 120 <= longest <= time.time() - started + 1.5  # the live one, not extrapolated
    finally:
        for s in senders:
            s.close()
        for sp in spools:
            sp.close()
        assert collector.stop() == 0
