"""The per-device rate limit charges a report by its records (one token per started 500),
so a device sending huge reports is throttled while a device sending small ones is not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.e2e.test_pipeline import _report, enroll, stored
from tests.procs import CollectorProc, start_collector

BURST = 10  # tokens: one report of 5,000 records, or ten small reports


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(
        f"sqlite:///{tmp_path / 'c.db'}", "--device-rate", "1", "--device-burst", str(BURST)
    )
    yield c
    c.stop()


def test_huge_reports_are_throttled_by_records_small_ones_are_not(
    collector: CollectorProc, tmp_path: Path
) -> None:
    big = enroll(collector.grpc, collector.db, tmp_path / "big")
    small = enroll(collector.grpc, collector.db, tmp_path / "small")
    big_auth = (("authorization", f"Device {big['device_secret']}"),)
    small_auth = (("authorization", f"Device {small['device_secret']}"),)
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        first = stub.Report(_report(big, range(1, 5001)), metadata=big_auth, timeout=60)
        assert first.accepted == 5000
        with pytest.raises(grpc.RpcError) as second:
            stub.Report(_report(big, range(5001, 10001)), metadata=big_auth, timeout=60)
        assert second.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = second.value.details() or ""
        assert "over its report rate" in details and "5000 records costs 10" in details
        hint = int(dict(second.value.trailing_metadata() or ())["retry-after-ms"])
        assert 5_000 <= hint <= 10_000  # about ten tokens at 1/s, less what refilled

        for seq in range(1, BURST + 1):  # the small device's whole budget, unthrottled
            got = stub.Report(_report(small, range(seq, seq + 1)), metadata=small_auth, timeout=10)
            assert got.accepted == 1
    assert stored(collector.db, "signins") == 5000 + BURST
