"""A 72-hour collector outage in compressed time.

One device (the agent's real Spool, capped at 200 kB, on a fake clock) keeps measuring
for the equivalent of three days - app usage every five minutes, a boot and sign-ins every
day - while every send attempt fails. The spool must stay within its cap by dropping the
least valuable records, oldest first (app usage; no sign-in, no boot), and count what it
dropped. The agent then spools a health record with the drops, and the collector comes
back: everything left drains fully in batches of ``batch_records``, paced by the
collector's rate limit (RESOURCE_EXHAUSTED, retried after its hint, and nothing else),
and the drops reach /metrics as fleetpulse_agent_dropped_records_total.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    BootType,
    DeviceFacts,
    HealthRecord,
    Kind,
    Phase,
    Record,
    SigninRecord,
    SigninState,
)
from fleetpulse.contract.serde import record_to_bytes
from tests.faults import fast_channel, free_port, spooled, stored_sqlite
from tests.procs import cli, scrape, start_collector, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CAP = 200_000
HOURS = 72
TICK = 300.0  # the agent flushes app usage every five minutes
APPS = tuple(f"app{i:02d}.exe" for i in range(12))
SIGNINS_A_DAY = 3
BATCH = 150
RATE, BURST = 8.0, 4.0  # the collector's per-device limit while the fleet drains


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _day_records(day: int, start: float) -> list[Record]:
    """A boot and the day's sign-ins (all complete), at 08:00 of ``day``."""
    boot_at = start + 8 * 3600
    out: list[Record] = [
        BootRecord(
            boot_id=f"boot-{day}",
            boot_time=boot_at,
            total_seconds=41.5,
            boot_type=BootType.COLD,
            phases=(Phase("kernel", 12.0), Phase("userspace", 29.5)),
        )
    ]
    for n in range(SIGNINS_A_DAY):
        out.append(
            SigninRecord(
                session_id=f"s{n}",
                boot_id=f"boot-{day}",
                user_hash="u" * 16,
                started_at=boot_at + 120 + n * 3600,
                state=SigninState.COMPLETE,
                total_seconds=33.25 + n,
                phases=(Phase("core", 30.0 + n), Phase("responsive", 3.25)),
            )
        )
    return out


def _apps(interval_start: float) -> list[Record]:
    return [
        AppUsageRecord(
            interval_start=interval_start,
            interval_seconds=TICK,
            app=app,
            launches=1,
            running_seconds=TICK,
            foreground_seconds=TICK / 4,
            cpu_seconds=12.5,
            peak_rss_bytes=(200 + i) << 20,
            crashes=0,
        )
        for i, app in enumerate(APPS)
    ]


def test_72_hour_outage_keeps_within_cap_and_drains_everything_left(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    port = free_port()
    target = f"127.0.0.1:{port}"
    extra = ("--device-rate", str(RATE), "--device-burst", str(BURST))
    collector = start_collector(db, *extra, listen=target, log=tmp_path / "collector.log")
    try:
        made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db)
        assert made.returncode == 0, made.stderr
        facts = DeviceFacts(
            hostname="outage-1",
            os="linux",
            os_version="test",
            agent_version="0.1.0",
            hardware_id="hw-o1",
            machine_id="m-o1",
        )
        got = enroll(target, made.stdout.strip(), facts)
    finally:
        assert collector.stop() == 0  # the outage begins

    end = time.time() - 60
    clock = FakeClock(end - HOURS * 3600)
    spool = Spool(str(tmp_path / "spool.db"), max_bytes=CAP, clock=clock)
    channel = fast_channel(target)
    sender = Sender(
        target,
        got.device_id,
        got.device_secret,
        batch_records=BATCH,
        deadline=2.0,
        clock=clock,
        channel=channel,
    )
    try:
        generated = {"app_usage": [], "signin": [], "boot": []}  # seqs the spool assigned
        peak = 0
        failed_sends = 0
        ticks = int(HOURS * 3600 / TICK)
        for tick in range(ticks):
            interval_start = clock.now
            clock.now += TICK
            records = _apps(interval_start)
            if tick % int(86400 / TICK) == 0:
                records += _day_records(tick // int(86400 / TICK), interval_start)
            seqs = spool.put((r.kind, record_to_bytes(r, clock.now)) for r in records)
            for r, seq in zip(records, seqs, strict=True):
                generated[r.kind.value].append(seq)
            stats = spool.stats()
            assert stats.bytes <= CAP, f"spool over its cap: {stats.bytes} > {CAP}"
            peak = max(peak, stats.bytes)
            if tick % 12 == 0:  # the agent keeps trying: every attempt fails, nothing lost
                res = sender.send(spool, facts)
                assert not res.ok and res.acked == 0 and res.remaining == stats.records
                assert res.error is not None and res.error.startswith("UNAVAILABLE")
                failed_sends += 1
        assert failed_sends == ticks // 12

        stats = spool.stats()
        left = spooled(got.device_id, spool)
        assert peak > CAP * 0.9  # the cap was what bound the spool
        app_total = len(generated["app_usage"])
        assert app_total == ticks * len(APPS)
        # Only app usage was dropped, and only what the cap required ...
        assert set(stats.dropped) == {"app_usage"}
        dropped = stats.dropped["app_usage"]
        assert 0 < dropped < app_total
        assert stats.by_kind["app_usage"] == app_total - dropped
        # ... oldest first: what is left is the newest app usage, unbroken ...
        kept_apps = sorted(s for _, s in left["app_usage"])
        assert kept_apps == generated["app_usage"][dropped:]
        # ... and every sign-in and boot of the three days is still there.
        assert sorted(s for _, s in left["signin"]) == generated["signin"]
        assert sorted(s for _, s in left["boot"]) == generated["boot"]
        assert len(generated["signin"]) == SIGNINS_A_DAY * HOURS // 24
        assert len(generated["boot"]) == HOURS // 24

        # The agent reports its drops in a health record (again if spooling it dropped more).
        health_sent: dict[str, int] = {}
        while health_sent != spool.stats().dropped:
            health_sent = dict(spool.stats().dropped)
            health = HealthRecord(dropped=health_sent, spool_bytes=spool.stats().bytes)
            spool.put([(Kind.HEALTH, record_to_bytes(health, clock.now))])
        final = spool.stats()
        assert final.bytes <= CAP and set(final.dropped) == {"app_usage"}
        to_deliver = spooled(got.device_id, spool)
        waiting = final.records
        assert waiting == sum(len(v) for v in to_deliver.values())

        # The collector comes back: the spool drains at the pace the collector allows.
        collector = start_collector(db, *extra, listen=target, log=tmp_path / "collector.log")
        try:
            batches: list[int] = []
            limited = 0
            deadline = time.monotonic() + 60
            while spool.stats().records and time.monotonic() < deadline:
                before = spool.stats().records
                res = sender.send(spool, facts, max_batches=1)
                if res.ok:
                    batches.append(res.acked + res.duplicates)
                    assert res.duplicates == 0
                    assert before - res.remaining == min(BATCH, before)
                    continue
                assert res.error is not None
                if res.error.startswith("UNAVAILABLE"):  # the restarted server not up yet
                    assert not batches and limited == 0, res.error
                    time.sleep(0.1)
                    continue
                assert res.error.startswith("RESOURCE_EXHAUSTED"), res.error
                assert res.retry_after is not None and 0 < res.retry_after <= 1 / RATE + 0.01
                limited += 1
                time.sleep(res.retry_after)
            assert spool.stats().records == 0, "the spool did not drain"
            assert sum(batches) == waiting
            assert batches == [BATCH] * (waiting // BATCH) + (
                [waiting % BATCH] * (waiting % BATCH > 0)
            )
            assert len(batches) > BURST and limited > 0  # the rate limit paced the drain
            samples = scrape(collector.metrics_url)
            assert (
                value(samples, "fleetpulse_agent_dropped_records_total", kind="app_usage")
                == final.dropped["app_usage"]
            )
            assert value(samples, "fleetpulse_agent_dropped_records_total", kind="signin") == 0
            assert value(
                samples, "fleetpulse_ingest_records_total", kind="app_usage", result="accepted"
            ) == len(to_deliver["app_usage"])
        finally:
            assert collector.stop() == 0
    finally:
        channel.close()
        spool.close()

    stored = stored_sqlite(db)
    for table in ("app_usage", "signin", "boot"):
        assert sorted(stored[table]) == sorted(to_deliver[table]), table
    assert len(stored["signin"]) == len(generated["signin"])
    assert len(stored["boot"]) == len(generated["boot"])
    assert len(stored["app_usage"]) == app_total - final.dropped["app_usage"]
    assert stored["signin_live"] == []
