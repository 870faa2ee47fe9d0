"""A report larger than the collector takes is split by the agent's sender, never dropped
(real collector process, real sender and spool)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent.sender import Sender
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import AppUsageRecord, DeviceFacts
from fleetpulse.contract.serde import record_to_bytes
from fleetpulse.contract.setting_ranges import REPORT_MAX_RECORDS
from tests.e2e.test_pipeline import enroll, stored
from tests.procs import CollectorProc, start_collector

FACTS = DeviceFacts("split-host", "linux", "6.8", "0.1.0")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    yield c
    assert c.stop() == 0


def _spool(path: Path, n: int) -> Spool:
    spool = Spool(str(path), max_bytes=1024**3)
    now = time.time()
    spool.put(
        (r.kind, record_to_bytes(r, now))
        for r in (
            AppUsageRecord(
                interval_start=now - 120, interval_seconds=60.0, app=f"app{i}", launches=1
            )
            for i in range(n)
        )
    )
    return spool


def test_report_over_the_collector_limit_is_split_and_delivered(
    collector: CollectorProc, tmp_path: Path
) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "a")
    n = REPORT_MAX_RECORDS + 1000
    spool = _spool(tmp_path / "spool.db", n)
    # a sender built with more than the collector takes (config.toml cannot say so, but an
    # older collector with a lower limit can refuse what this agent's settings allow)
    sender = Sender(
        collector.grpc, creds["device_id"], creds["device_secret"], batch_records=n, deadline=60.0
    )
    try:
        result = sender.send(spool, FACTS)
        assert result.ok, result.error
        assert (result.acked, result.rejected, result.remaining) == (n, 0, 0)
        assert spool.stats().rejected == 0
        assert stored(collector.db, "app_usage") == n
        # the smaller size is kept: the next report goes out at once, without a refusal
        spool.put(
            [
                (r.kind, record_to_bytes(r, time.time()))
                for r in [
                    AppUsageRecord(
                        interval_start=time.time() - 60,
                        interval_seconds=60.0,
                        app="later",
                        launches=1,
                    )
                ]
            ]
        )
        assert sender.send(spool, FACTS).acked == 1
    finally:
        sender.close()
        spool.close()


def test_a_report_refused_whole_for_another_reason_is_kept_not_dropped(
    collector: CollectorProc, tmp_path: Path
) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "a")
    spool = _spool(tmp_path / "spool.db", 8)
    sender = Sender(collector.grpc, creds["device_id"], creds["device_secret"], batch_records=8)
    bad_facts = DeviceFacts("bad\x00host", "linux", "6.8", "0.1.0")  # refused whatever the size
    try:
        result = sender.send(spool, bad_facts)
        assert result.error is not None and result.error.startswith("INVALID_ARGUMENT")
        assert (result.acked, result.rejected, result.remaining) == (0, 0, 8)
        assert stored(collector.db, "app_usage") == 0
        # halving stopped at one record; the configured size is back for the next send
        result = sender.send(spool, FACTS)
        assert (result.acked, result.remaining) == (8, 0)
    finally:
        sender.close()
        spool.close()
