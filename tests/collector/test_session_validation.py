"""A session end outside the contract's bounds is refused with a message naming its seq,
over a real gRPC server, and nothing of that report is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.serde import report_from_proto
from fleetpulse.collector.validation import validate
from fleetpulse.contract import serde
from fleetpulse.v1 import telemetry_pb2 as pb
from tests.collector.test_inprocess_servicer import against, failed, trailer
from tests.inprocess import FACTS, NOW, Parts, parts, signin


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Parts]:
    made = parts(tmp_path)
    yield made
    made.close()


def end(seq: int, **fields: object) -> pb.Record:
    body = {
        "boot_id": "boot-1",
        "session_id": "s",
        "ended_at": NOW - 60,
        "reason": pb.END_REASON_SIGN_OUT,
        **fields,
    }
    return pb.Record(seq=seq, observed_at=NOW - 60, signin_end=pb.SigninEnd(**body))


def problem(rec: pb.Record) -> str:
    with pytest.raises(InvalidReport) as err:
        validate(report_from_proto(pb.ReportRequest(device_id="d", records=[rec])), NOW)
    assert err.value.seqs == [rec.seq]
    return str(err.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": pb.END_REASON_UNSPECIFIED}, "reason 0 is not SIGN_OUT (1) or DISCONNECT (2)"),
        ({"reason": 7}, "reason 7 is not SIGN_OUT (1) or DISCONNECT (2)"),
        ({"boot_id": ""}, "signin_end: boot_id is empty"),
        ({"session_id": "s" * 257}, "signin_end: session_id is longer than 256 characters"),
        ({"session_id": "a\x00b"}, "signin_end: session_id contains a NUL character"),
        ({"ended_at": 946684799.0}, "signin_end: ended_at 946684799.0 is before 2000-01-01"),
        ({"ended_at": NOW + 86401}, "signin_end: ended_at is 86401 s in the future"),
        ({"ended_at": float("nan")}, "signin_end: ended_at nan is before 2000-01-01"),
    ],
)
def test_an_end_outside_the_bounds_is_named(fields: dict[str, object], message: str) -> None:
    assert message in problem(end(9, **fields))


def test_an_end_at_its_bounds_passes() -> None:
    for rec in (end(1, ended_at=946684800.0), end(2, ended_at=NOW + 86400, session_id="s" * 256)):
        validate(report_from_proto(pb.ReportRequest(device_id="d", records=[rec])), NOW)


def test_the_server_refuses_a_bad_end_with_invalid_argument_and_its_seq(p: Parts) -> None:
    dev = p.enroll()
    request = serde.report_request(
        dev.device_id, FACTS, [(11, serde.record_to_bytes(signin("s"), NOW - 60))], NOW
    )
    request.records.append(end(12, reason=pb.END_REASON_UNSPECIFIED))
    request.records.append(end(13, session_id="t"))
    metadata = (("authorization", f"Device {dev.secret}"),)
    [result] = against(p, lambda stub, _: stub.Report(request, timeout=10, metadata=metadata))
    err = failed(result)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(err, "fleetpulse-rejected-seqs") == "12"
    assert "record seq=12" in err.details() and "reason 0" in err.details()
    assert p.store.sessions_between(0, NOW + 1) == []

    del request.records[1]  # the agent sets the refused record aside and sends the rest
    [ack] = against(p, lambda stub, _: stub.Report(request, timeout=10, metadata=metadata))
    assert isinstance(ack, pb.ReportResponse) and ack.accepted == 2
    [row] = p.store.sessions_between(0, NOW + 1)
    assert row.ended_at is None  # session "t" is not this sign-in's end
    assert p.store.unmatched_ends(0, NOW + 1) == 1
