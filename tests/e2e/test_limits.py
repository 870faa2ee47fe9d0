"""Limits: a device over its report rate gets RESOURCE_EXHAUSTED with a retry hint the agent
honours (losing nothing); an oversized message is refused; nothing refused is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.agent.sender import Sender
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState
from fleetpulse.contract.serde import record_to_bytes
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.e2e.test_pipeline import _report, enroll, stored
from tests.procs import CollectorProc, start_collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(
        f"sqlite:///{tmp_path / 'c.db'}", "--device-rate", "2", "--device-burst", "2"
    )
    yield c
    c.stop()


def test_flood_is_refused_with_a_retry_hint(collector: CollectorProc, tmp_path: Path) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "a")
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        stub.Report(_report(creds, range(1, 2)), metadata=auth, timeout=10)
        stub.Report(_report(creds, range(2, 3)), metadata=auth, timeout=10)
        with pytest.raises(grpc.RpcError) as flood:
            stub.Report(_report(creds, range(3, 4)), metadata=auth, timeout=10)
    assert flood.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "over its report rate" in flood.value.details()
    hint = int(dict(flood.value.trailing_metadata())["retry-after-ms"])
    assert 100 <= hint <= 500
    assert stored(collector.db, "signins") == 2


def test_agent_backs_off_on_the_hint_and_loses_nothing(
    collector: CollectorProc, tmp_path: Path
) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "a")
    spool = Spool(str(tmp_path / "spool.db"))
    for i in range(6):
        rec = SigninRecord(f"s{i}", "b", "h", time.time() - 60, SigninState.COMPLETE, 30.0 + i)
        spool.put([(rec.kind, record_to_bytes(rec, time.time()))])
    sender = Sender(collector.grpc, creds["device_id"], creds["device_secret"], batch_records=1)
    facts = DeviceFacts("h", "linux", "", "0.1.0")
    waits = []
    try:
        result = sender.send(spool, facts)
        assert result.acked == 2 and result.remaining == 4
        assert "RESOURCE_EXHAUSTED" in (result.error or "")
        deadline = time.monotonic() + 30
        while result.remaining and time.monotonic() < deadline:
            assert result.retry_after is not None
            waits.append(result.retry_after)
            time.sleep(result.retry_after)
            result = sender.send(spool, facts)
    finally:
        sender.close()
    assert result.remaining == 0 and spool.stats().records == 0
    assert all(0 < w <= 0.5 for w in waits)
    assert stored(collector.db, "signins") == 6
    spool.close()


def test_oversized_message_is_refused(collector: CollectorProc, tmp_path: Path) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "a")
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    big = _report(creds, range(1, 2))
    big.facts.os_version = "x" * (5 * 1024 * 1024)
    with grpc.insecure_channel(collector.grpc) as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.TelemetryStub(channel).Report(big, metadata=auth, timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stored(collector.db, "signins") == 0
    assert isinstance(big, pb.ReportRequest)
