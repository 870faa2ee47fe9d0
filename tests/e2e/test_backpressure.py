"""Backpressure: with the writer's queue full the collector refuses a report with
RESOURCE_EXHAUSTED and a ``retry-after-ms`` hint instead of queueing it, and a client that
sends again after the hint gets every record stored exactly once (a real collector process,
a tiny queue bound, a burst of concurrent reports)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import grpc
import pytest

from fleetpulse.v1 import telemetry_pb2 as pb
from tests.e2e.test_pipeline import _report, enroll
from tests.procs import scrape, start_collector, value

pytestmark = pytest.mark.timeout(120)

QUEUE = 20  # records: two reports of ten
REPORTS = 40
RECORDS = 10


async def _send_until_taken(
    call: grpc.aio.UnaryUnaryMultiCallable, raw: bytes, auth: str, hints: list[int]
) -> pb.ReportResponse:
    while True:
        try:
            got = await call(raw, metadata=(("authorization", auth),), timeout=30)
            return pb.ReportResponse.FromString(got)
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
            assert "write queue is full" in (err.details() or "")
            hint = int(dict(err.trailing_metadata() or ())["retry-after-ms"])
            hints.append(hint)
            await asyncio.sleep(hint / 1000)


async def _burst(addr: str, raws: list[bytes], auth: str, hints: list[int]) -> list[int]:
    async with grpc.aio.insecure_channel(addr) as channel:
        call = channel.unary_unary("/fleetpulse.v1.Telemetry/Report")
        acks = await asyncio.gather(*(_send_until_taken(call, r, auth, hints) for r in raws))
    assert all(a.duplicates == 0 for a in acks)
    return [a.accepted for a in acks]


def test_a_full_write_queue_answers_resource_exhausted_and_loses_nothing(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    collector = start_collector(
        db, "--write-queue-records", str(QUEUE), "--device-rate", "0",
        log=tmp_path / "collector.log",
    )  # fmt: skip
    try:
        creds = enroll(collector.grpc, db, tmp_path / "agent")
        auth = f"Device {creds['device_secret']}"
        raws = [
            _report(creds, range(1 + i * RECORDS, 1 + (i + 1) * RECORDS)).SerializeToString()
            for i in range(REPORTS)
        ]
        hints: list[int] = []
        accepted = asyncio.run(_burst(collector.grpc, raws, auth, hints))
        assert accepted == [RECORDS] * REPORTS
        assert hints, "the burst never filled the queue"
        assert all(50 <= h <= 5000 for h in hints), hints
        # A report larger than the whole bound is still taken when nothing waits.
        big = _report(creds, range(10_001, 10_001 + 2 * QUEUE)).SerializeToString()
        assert asyncio.run(_burst(collector.grpc, [big], auth, [])) == [2 * QUEUE]
        samples = scrape(collector.metrics_url)
        assert (
            value(samples, "fleetpulse_ingest_records_total", kind="signin", result="accepted")
            == REPORTS * RECORDS + 2 * QUEUE
        )
    finally:
        assert collector.stop() == 0
    with sqlite3.connect(tmp_path / "c.db") as conn:
        seqs = [int(s) for (s,) in conn.execute("SELECT seq FROM signins")]
    assert not [s for s, n in Counter(seqs).items() if n > 1]
    expected = set(range(1, REPORTS * RECORDS + 1)) | set(range(10_001, 10_001 + 2 * QUEUE))
    assert set(seqs) == expected
