"""The core pipeline end to end: a collector and an agent as separate OS processes."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.procs import CollectorProc, cli, scrape, start_collector, value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collector.db'}"


@pytest.fixture
def collector(db: str) -> Iterator[CollectorProc]:
    c = start_collector(db, "--refresh-seconds", "0.2")
    yield c
    c.stop()


def enroll(grpc_addr: str, db: str, state: Path, site: str = "hq") -> dict[str, str]:
    made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", db)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("fpt_") and "\n" not in token
    got = cli(
        "fleetpulse-agent",
        "enroll",
        "--collector",
        grpc_addr,
        "--token",
        token,
        "--state-dir",
        str(state),
    )
    assert got.returncode == 0, got.stderr
    assert (state / "credentials.json").stat().st_mode & 0o777 == 0o600
    creds: dict[str, str] = json.loads((state / "credentials.json").read_text())
    return creds


def stored(db: str, table: str) -> int:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_agent_once_shows_in_metrics_and_devices(collector: CollectorProc, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    creds = enroll(collector.grpc, collector.db, state)
    (state / "config.toml").write_text("boot_settle_seconds = 0\n")
    run = cli("fleetpulse-agent", "once", "--state-dir", str(state), "--json")
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout)
    boots = [m for m in measured if m["kind"] == "boot"]
    assert len(boots) == 1
    assert boots[0]["boot_time"] > 0
    assert "total_seconds" in boots[0]  # present, possibly null (unknown), never omitted
    assert stored(collector.db, "boots") == 1

    assert wait_for(
        lambda: (
            value(scrape(collector.metrics_url), "fleetpulse_devices", site="hq", state="reporting")
            == 1
        )
    )
    samples = scrape(collector.metrics_url)
    assert value(samples, "fleetpulse_ingest_records_total", kind="boot", result="accepted") == 1
    health = [m for m in measured if m["kind"] == "health"]
    assert value(
        samples, "fleetpulse_ingest_records_total", kind="health", result="accepted"
    ) == len(health)

    listed = cli("fleetpulse-collector", "devices", "--db", collector.db, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["device_id"] for r in rows] == [creds["device_id"]]
    assert rows[0]["site"] == "hq"
    assert rows[0]["hostname"] == socket.gethostname()
    table = cli("fleetpulse-collector", "devices", "--db", collector.db)
    assert creds["device_id"] in table.stdout


def _report(creds: dict[str, str], seqs: range, total: float = 42.0) -> pb.ReportRequest:
    req = pb.ReportRequest(
        device_id=creds["device_id"],
        sent_at=1.8e9,
        facts=pb.DeviceFacts(hostname="dup-host", os="linux", agent_version="0.1.0"),
    )
    for seq in seqs:
        rec = req.records.add(seq=seq, observed_at=1.79e9)
        rec.signin.CopyFrom(
            pb.Signin(
                session_id=f"s{seq}",
                boot_id="b1",
                user_hash="h",
                started_at=1.79e9,
                state=pb.SIGNIN_STATE_COMPLETE,
                total_seconds=total,
            )
        )
    return req


def _stub(addr: str) -> tuple[grpc.Channel, pb_grpc.TelemetryStub]:
    channel = grpc.insecure_channel(addr)
    return channel, pb_grpc.TelemetryStub(channel)


def test_duplicate_batch_is_counted_once(collector: CollectorProc, tmp_path: Path) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "agent")
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    channel, stub = _stub(collector.grpc)
    with channel:
        first = stub.Report(_report(creds, range(1, 6)), metadata=auth, timeout=10)
        again = stub.Report(_report(creds, range(1, 6)), metadata=auth, timeout=10)
    assert (first.accepted, first.duplicates) == (5, 0)
    assert (again.accepted, again.duplicates) == (0, 5)
    assert stored(collector.db, "signins") == 5
    samples = scrape(collector.metrics_url)
    assert value(samples, "fleetpulse_ingest_records_total", kind="signin", result="duplicate") == 5
    assert value(samples, "fleetpulse_ingest_records_total", kind="signin", result="accepted") == 5
    assert value(samples, "fleetpulse_login_duration_seconds_count", site="hq") == 5


def test_outage_keeps_records_and_next_once_delivers(db: str, tmp_path: Path) -> None:
    port = free_port()
    first = start_collector(db, listen=f"127.0.0.1:{port}")
    state = tmp_path / "agent"
    try:
        enroll(first.grpc, db, state)
        (state / "config.toml").write_text("boot_settle_seconds = 0\n")
    finally:
        first.stop()
    down = cli("fleetpulse-agent", "once", "--state-dir", str(state))
    assert down.returncode == 0
    warning = down.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: collector unreachable")
    status = cli("fleetpulse-agent", "status", "--state-dir", str(state))
    kept = int(status.stdout.split("spool:")[1].split()[0])
    assert kept >= 1  # at least this boot's record waits in the spool

    again = start_collector(db, listen=f"127.0.0.1:{port}")
    try:
        up = cli("fleetpulse-agent", "once", "--state-dir", str(state))
        assert up.returncode == 0 and up.stderr == "", up.stderr
        status = cli("fleetpulse-agent", "status", "--state-dir", str(state))
        assert "spool:     0 record(s)" in status.stdout
        assert stored(db, "boots") == 1
        samples = scrape(again.metrics_url)
        assert value(samples, "fleetpulse_ingest_records_total", result="accepted") >= kept
    finally:
        again.stop()


def test_malformed_input_gets_precise_status_and_changes_nothing(
    collector: CollectorProc, tmp_path: Path
) -> None:
    creds = enroll(collector.grpc, collector.db, tmp_path / "agent")
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    channel, stub = _stub(collector.grpc)
    with channel:
        stub.Report(_report(creds, range(1, 3)), metadata=auth, timeout=10)
        before = stored(collector.db, "signins")

        raw = channel.unary_unary("/fleetpulse.v1.Telemetry/Report")
        with pytest.raises(grpc.RpcError) as garbage:
            raw(b"\xff\xfe garbage \x00\x01", metadata=auth, timeout=10)
        assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid fleetpulse.v1.ReportRequest" in garbage.value.details()

        bad = _report(creds, range(10, 13))
        bad.records[1].signin.total_seconds = -3
        with pytest.raises(grpc.RpcError) as negative:
            stub.Report(bad, metadata=auth, timeout=10)
        assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "seq=11" in negative.value.details()
        assert "total_seconds must be a non-negative" in negative.value.details()
        meta = dict(negative.value.trailing_metadata())
        assert meta["fleetpulse-rejected-seqs"] == "11"

        stranger = _report({"device_id": "no-such-device"}, range(1, 2))
        with pytest.raises(grpc.RpcError) as unknown:
            stub.Report(stranger, metadata=auth, timeout=10)
        assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "unknown device" in unknown.value.details()

        with pytest.raises(grpc.RpcError) as anonymous:
            stub.Report(_report(creds, range(20, 21)), timeout=10)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="fleetpulse.v1.Telemetry"), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert stored(collector.db, "signins") == before == 2
    samples = scrape(collector.metrics_url)
    assert value(samples, "fleetpulse_ingest_records_total", kind="signin", result="rejected") == 1
    assert value(samples, "fleetpulse_login_duration_seconds_count") == 2


def test_simulated_fleet_is_stored_exactly(collector: CollectorProc) -> None:
    tokens = []
    for site in ("north", "south"):
        made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", collector.db)
        tokens += ["--token", made.stdout.strip()]
    run = cli(
        "fleetpulse-agent",
        "simulate",
        "--collector",
        collector.grpc,
        *tokens,
        "--devices",
        "20",
        "--days",
        "3",
        "--seed",
        "5",
    )
    assert run.returncode == 0, run.stderr
    truth = json.loads(run.stdout)
    assert truth["unsent"] == 0 and truth["acked"] == truth["records"]
    assert stored(collector.db, "signins") == truth["signins"] == 60
    assert stored(collector.db, "boots") == truth["by_kind"]["boot"] == 60
    assert stored(collector.db, "app_usage") == truth["by_kind"]["app_usage"]
    samples = scrape(collector.metrics_url)
    assert value(samples, "fleetpulse_login_duration_seconds_count") == 60
    assert value(samples, "fleetpulse_login_duration_seconds_count", site="north") == 30
