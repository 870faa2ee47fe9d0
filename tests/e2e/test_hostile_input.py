"""Values the contract does not define, and values no column can hold, against a running
collector on SQLite and PostgreSQL: each is INVALID_ARGUMENT naming its seq (or
UNAUTHENTICATED for a malformed device id), nothing of it is stored or counted, and an
agent sets such a record aside and delivers the rest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import AppUsageRecord, DeviceFacts, Kind
from fleetpulse.contract.serde import facts_to_proto, record_to_bytes
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.faults import TABLES, stored_sqlite
from tests.procs import CollectorProc, cli, scrape, start_collector, value

pytestmark = pytest.mark.timeout(120)

FACTS = DeviceFacts("hostile-host", "linux", "6.1", "0.1.0")
NOW = time.time()


def _stored(db: str) -> int:
    if db.startswith("sqlite:///"):
        return sum(len(v) for v in stored_sqlite(db).values())
    with psycopg.connect(db) as conn:
        return sum(len(conn.execute(sql).fetchall()) for sql in TABLES.values())


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProc, Any, Any]]:
    c = start_collector(db_url, "--device-rate", "0", log=tmp_path / "collector.log")
    try:
        made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db_url)
        assert made.returncode == 0, made.stderr
        got = enroll(c.grpc, made.stdout.strip(), FACTS)
        with grpc.insecure_channel(c.grpc) as channel:
            yield c, got, pb_grpc.TelemetryStub(channel)
    finally:
        assert c.stop() == 0


def _report(device_id: str, *records: pb.Record) -> pb.ReportRequest:
    return pb.ReportRequest(
        device_id=device_id, facts=facts_to_proto(FACTS), sent_at=NOW, records=records
    )


def _boot(seq: int, phases: list[tuple[str, float]] = (), **fields: Any) -> pb.Record:
    rec = pb.Record(seq=seq, observed_at=NOW)
    rec.boot.CopyFrom(
        pb.Boot(
            boot_id=f"b{seq}",
            boot_time=NOW - 600,
            total_seconds=60,
            phases=[pb.Phase(name=n, seconds=s) for n, s in phases],
            **fields,
        )
    )
    return rec


def _signin(seq: int, state: int, phases: list[tuple[str, float]] = ()) -> pb.Record:
    rec = pb.Record(seq=seq, observed_at=NOW)
    rec.signin.CopyFrom(
        pb.Signin(
            session_id=f"s{seq}",
            boot_id="b",
            user_hash="h",
            started_at=NOW - 300,
            state=state,
            total_seconds=30,
            elapsed_seconds=30,
            phases=[pb.Phase(name=n, seconds=s) for n, s in phases],
        )
    )
    return rec


def _contributed(seq: int, *contributors: pb.Contributor) -> pb.Record:
    rec = _signin(seq, pb.SIGNIN_STATE_COMPLETE)
    rec.signin.contributors.extend(contributors)
    return rec


def _health(seq: int, dropped: dict[str, int]) -> pb.Record:
    rec = pb.Record(seq=seq, observed_at=NOW)
    rec.health.CopyFrom(pb.AgentHealth(dropped=dropped, spool_bytes=1))
    return rec


HOSTILE = {
    "signin state 0": _signin(11, 0),
    "signin state 99": _signin(12, 99),
    "boot type 7": _boot(13, boot_type=7),
    "20,000 main_path phases": _boot(14, [("main_path", 1.0)] * 20_000),
    "20,000 core phases": _signin(15, pb.SIGNIN_STATE_COMPLETE, [("core", 1.0)] * 20_000),
    "unknown phase": _boot(16, [("main_path", 1.0), ("warp_drive", 1.0)]),
    "3,000 dropped kinds": _health(17, {f"kind{i}": 1 for i in range(3000)}),
    "unknown culprit kind": _boot(18, culprits=[pb.Culprit(name="x", kind="evil", seconds=1)]),
    "101 culprits": _boot(
        19, culprits=[pb.Culprit(name=f"d{i}", kind="driver", seconds=1) for i in range(101)]
    ),
    "unknown contributor kind": _contributed(
        22, pb.Contributor(kind="evil", name="x.exe", seconds=1)
    ),
    "65 contributors": _contributed(
        23,
        *(pb.Contributor(kind="startup_app", name=f"a{i}.exe", seconds=1) for i in range(65)),
    ),
    "contributor path": _contributed(
        24, pb.Contributor(kind="gp_script", name="\\\\corp\\netlogon\\x.cmd", seconds=1)
    ),
    "launches 2^31": pb.Record(
        seq=20,
        observed_at=NOW,
        app_usage=pb.AppUsage(
            interval_start=NOW - 60, interval_seconds=60, app="a.exe", launches=2**31
        ),
    ),
    "crashes 2^31": pb.Record(
        seq=21,
        observed_at=NOW,
        app_usage=pb.AppUsage(
            interval_start=NOW - 60, interval_seconds=60, app="a.exe", crashes=2**31
        ),
    ),
}


def test_undefined_values_are_refused_by_seq_and_neither_stored_nor_counted(
    served: tuple[CollectorProc, Any, Any],
) -> None:
    c, dev, stub = served
    auth = (("authorization", f"Device {dev.device_secret}"),)
    before = _stored(c.db)
    for what, rec in HOSTILE.items():
        with pytest.raises(grpc.RpcError) as info:
            stub.Report(_report(dev.device_id, rec), metadata=auth, timeout=20)
        err = info.value
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, err.details())
        trailers = dict(err.trailing_metadata())
        assert trailers["fleetpulse-rejected-seqs"] == str(rec.seq), what
        assert f"seq={rec.seq}" in err.details(), what
    assert _stored(c.db) == before
    samples = scrape(c.metrics_url)
    assert value(samples, "fleetpulse_boot_phase_duration_seconds_count") == 0
    assert value(samples, "fleetpulse_login_phase_duration_seconds_count") == 0
    assert not [k for k in samples if k[0].startswith("fleetpulse_login_contributor")]
    assert not [
        k
        for k in samples
        if k[0].startswith("fleetpulse_agent_dropped")
        and dict(k[1]).get("kind", "").startswith("kind")
    ]

    # the defined values still pass: the kinds the agent spools and "unreadable"
    ok = stub.Report(
        _report(
            dev.device_id,
            _health(30, {"boot": 2, "unreadable": 3}),
            _signin(31, pb.SIGNIN_STATE_IN_PROGRESS),
        ),
        metadata=auth,
        timeout=20,
    )
    assert ok.accepted == 2


@pytest.mark.parametrize("device_id", ["dev\x00ice", "d" * 65, "x" * 5000])
def test_malformed_device_id_is_unauthenticated(
    served: tuple[CollectorProc, Any, Any], device_id: str
) -> None:
    _c, dev, stub = served
    with pytest.raises(grpc.RpcError) as info:
        stub.Report(
            _report(device_id),
            timeout=20,
            metadata=(("authorization", f"Device {dev.device_secret}"),),
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, info.value.details()


def test_a_record_no_column_can_hold_is_set_aside_and_the_rest_delivered(
    served: tuple[CollectorProc, Any, Any], tmp_path: Path
) -> None:
    c, dev, _stub = served
    spool = Spool(str(tmp_path / "spool.db"))
    good = AppUsageRecord(NOW - 60, 60, "ok.exe", launches=3, running_seconds=60)
    wedge = AppUsageRecord(NOW - 60, 60, "big.exe", launches=2**31, running_seconds=60)
    seqs = spool.put([(Kind.APP_USAGE, record_to_bytes(r, NOW)) for r in (good, wedge, good)])
    sender = Sender(c.grpc, dev.device_id, dev.device_secret, batch_records=10)
    try:
        result = sender.send(spool, FACTS, max_batches=5)
    finally:
        sender.close()
    assert result.error is None, result.error
    assert result.rejected == 1
    assert result.acked == 2
    assert spool.stats().records == 0  # nothing left to retry for ever
    assert spool.stats().rejected == 1
    if c.db.startswith("sqlite:///"):
        stored = stored_sqlite(c.db)["app_usage"]
    else:
        with psycopg.connect(c.db) as conn:
            stored = conn.execute(TABLES["app_usage"]).fetchall()
    assert sorted(int(s) for _, s in stored) == [seqs[0], seqs[2]]
    spool.close()
