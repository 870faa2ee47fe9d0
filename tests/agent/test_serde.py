from __future__ import annotations

from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    BootType,
    Culprit,
    DeviceFacts,
    HealthRecord,
    Phase,
    SigninRecord,
    SigninState,
)
from fleetpulse.contract.serde import record_from_proto, record_to_bytes, report_request
from fleetpulse.v1 import telemetry_pb2 as pb

RECORDS = [
    BootRecord(
        "b1",
        1.7e9,
        61.25,
        (Phase("main_path", 40.5),),
        BootType.FAST_STARTUP,
        True,
        (Culprit("AVService", "service", 12.0),),
    ),
    BootRecord("b2", 1.7e9),
    SigninRecord(
        "s1",
        "b1",
        "h",
        1.7e9,
        SigninState.COMPLETE,
        95.5,
        phases=(Phase("core", 80.0), Phase("responsive", 15.5)),
        first_login=False,
    ),
    SigninRecord("s2", "b1", "h", 1.7e9, SigninState.IN_PROGRESS, elapsed_seconds=300.0),
    AppUsageRecord(1.7e9, 60.0, "teams.exe", 1, 60.0, None, 1.5, 2 << 20, 0),
    HealthRecord({"app_usage": 3}, 2, 4096, None, 1),
]


def test_every_record_round_trips_with_unknowns_kept_unknown() -> None:
    for record in RECORDS:
        msg = pb.Record.FromString(record_to_bytes(record, 1.8e9))
        assert record_from_proto(msg) == record


def test_unknown_duration_is_absent_on_the_wire_not_zero() -> None:
    msg = pb.Record.FromString(record_to_bytes(RECORDS[1], 1.8e9))
    assert not msg.boot.HasField("total_seconds")
    assert not msg.boot.HasField("degraded")


def test_report_request_assigns_spool_seqs() -> None:
    facts = DeviceFacts("h", "linux", "x", "0.1.0")
    req = report_request("dev", facts, [(7, record_to_bytes(r, 1.8e9)) for r in RECORDS[:2]], 1.0)
    assert [r.seq for r in req.records] == [7, 7]
    assert req.records[0].boot.boot_id == "b1"
