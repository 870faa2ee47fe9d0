"""The Telemetry servicer on a real grpc.aio server bound to port 0 in the test process,
called over a real gRPC channel: responses, status codes, messages and trailers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from fleetpulse.collector.model import Hardware
from fleetpulse.collector.ratelimit import RateLimiter
from fleetpulse.collector.settings import AgentSettings
from fleetpulse.contract import serde
from fleetpulse.contract.records import DeviceFacts, Record
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.inprocess import FACTS, NOW, TOKEN, Parts, parts, serving, signin

Call = Callable[[pb_grpc.TelemetryStub, grpc.aio.Channel], Awaitable[object]]


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Parts]:
    made = parts(tmp_path)
    yield made
    made.close()


def against(p: Parts, *calls: Call) -> list[object]:
    """Runs ``calls`` in turn against the servicer over one channel; each gives its
    result, or the grpc.aio.AioRpcError it ended with."""

    async def main() -> list[object]:
        out: list[object] = []
        async with serving(p) as address, grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.TelemetryStub(channel)
            for call in calls:
                try:
                    out.append(await call(stub, channel))
                except grpc.aio.AioRpcError as err:
                    out.append(err)
        return out

    return asyncio.run(main())


def enroll(expected_site: str = "", token: str = TOKEN, facts: DeviceFacts = FACTS) -> Call:
    request = pb.EnrollRequest(
        token=token, facts=serde.facts_to_proto(facts), expected_site=expected_site
    )
    return lambda stub, _: stub.Enroll(request, timeout=10)


def send(device_id: str, secret: str | None, records: list[tuple[int, Record]]) -> Call:
    spooled = [(seq, serde.record_to_bytes(rec, NOW - 60)) for seq, rec in records]
    request = serde.report_request(device_id, FACTS, spooled, NOW)
    metadata = () if secret is None else (("authorization", f"Device {secret}"),)
    return lambda stub, _: stub.Report(request, timeout=10, metadata=metadata)


def failed(result: object) -> grpc.aio.AioRpcError:
    assert isinstance(result, grpc.aio.AioRpcError), result
    return result


def trailer(err: grpc.aio.AioRpcError, key: str) -> str | None:
    return next((str(v) for k, v in err.trailing_metadata() or () if k == key), None)


def test_enroll_returns_a_credential_with_the_sites_settings(p: Parts) -> None:
    p.settings.per_site["north"] = AgentSettings(report_interval_seconds=300)
    [got] = against(p, enroll(expected_site="north"))
    assert isinstance(got, pb.EnrollResponse)
    assert got.site == "north" and got.device_secret.startswith("fpd_")
    assert len(got.user_hash_key) == 32
    assert got.settings.report_interval_seconds == 300
    assert p.store.device(got.device_id) is not None


def test_enroll_failures_have_precise_codes(p: Parts) -> None:
    bad, other_site = against(p, enroll(token="fpt_wrong"), enroll(expected_site="south"))
    assert failed(bad).code() == grpc.StatusCode.UNAUTHENTICATED
    assert failed(other_site).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "south" in failed(other_site).details()
    assert p.store.device_rows(NOW) == []


def test_enroll_stores_the_hardware_and_refuses_a_disk_outside_the_vocabulary(p: Parts) -> None:
    known = replace(FACTS, manufacturer="HP", model="EliteBook 840 G8", system_disk="hdd")
    good, bad = against(
        p,
        enroll(facts=replace(known, memory_bytes=2**34)),
        enroll(facts=replace(known, system_disk="nvme")),
    )
    assert isinstance(good, pb.EnrollResponse)
    assert p.store.device_hardware()[good.device_id] == Hardware(
        "HP", "EliteBook 840 G8", 2**34, "hdd"
    )
    assert failed(bad).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "system_disk 'nvme' is not one of ssd, hdd or empty" in failed(bad).details()
    assert len(p.store.device_hardware()) == 1  # the refused enrolment stored nothing


def test_report_acks_then_counts_the_resend_as_duplicates(p: Parts) -> None:
    dev = p.enroll()
    p.settings.per_site["north"] = AgentSettings(signin_slo_seconds=90.0)
    rep = send(dev.device_id, dev.secret, [(1, signin("a")), (2, signin("b"))])
    first, again = against(p, rep, rep)
    assert isinstance(first, pb.ReportResponse) and isinstance(again, pb.ReportResponse)
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert first.server_time == NOW  # the ingestor's clock
    assert first.settings.signin_slo_seconds == 90.0
    assert len(p.store.signins_between(0, NOW + 1)) == 2


def test_invalid_records_come_back_in_the_rejected_seqs_trailer(p: Parts) -> None:
    dev = p.enroll()
    records: list[tuple[int, Record]] = [
        (11, signin("ok")),
        (12, signin("slow", seconds=90_000.0)),
        (13, signin("neg", seconds=-1.0)),
    ]
    [result] = against(p, send(dev.device_id, dev.secret, records))
    err = failed(result)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(err, "fleetpulse-rejected-seqs") == "12,13"
    assert "record seq=12" in err.details()
    assert p.store.signins_between(0, NOW + 1) == []


def test_undecodable_bytes_are_invalid_argument_not_internal(p: Parts) -> None:
    async def garbage(_: pb_grpc.TelemetryStub, channel: grpc.aio.Channel) -> object:
        raw = channel.unary_unary("/fleetpulse.v1.Telemetry/Report")
        return await raw(b"\xff\xff\xff", timeout=10)

    [result] = against(p, garbage)
    assert failed(result).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_credentials_are_checked_with_their_own_codes(p: Parts) -> None:
    dev = p.enroll()
    none, wrong, unknown = against(
        p,
        send(dev.device_id, None, [(1, signin("a"))]),
        send(dev.device_id, "fpd_guess", [(1, signin("a"))]),
        send("00000000-0000-4000-8000-000000000000", dev.secret, []),
    )
    assert failed(none).code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing device credential" in failed(none).details()
    assert failed(wrong).code() == grpc.StatusCode.PERMISSION_DENIED
    assert failed(unknown).code() == grpc.StatusCode.UNAUTHENTICATED
    assert dev.secret not in failed(wrong).details() + failed(unknown).details()


@pytest.mark.parametrize(
    ("rate", "second_at", "wait_ms", "said"),
    [
        (0.5, NOW, "2000", "retry in 2.0 s"),  # one token at 0.5/s
        # 0.9996 s after the first at 1 token/s: 0.4 ms short, rounded up, never "retry now"
        (1.0, NOW + 0.9996, "1", "retry in 0.1 s"),
    ],
)
def test_over_the_rate_is_resource_exhausted_with_retry_after_ms(
    tmp_path: Path, rate: float, second_at: float, wait_ms: str, said: str
) -> None:
    times = iter([NOW, second_at])
    p = parts(tmp_path, limiter=RateLimiter(rate=rate, burst=1, clock=lambda: next(times)))
    try:
        dev = p.enroll()
        ok, limited = against(
            p,
            send(dev.device_id, dev.secret, [(1, signin("a"))]),
            send(dev.device_id, dev.secret, [(2, signin("b"))]),
        )
        assert isinstance(ok, pb.ReportResponse) and ok.accepted == 1
        err = failed(limited)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailer(err, "retry-after-ms") == wait_ms
        assert said in err.details()
    finally:
        p.close()


def test_a_database_that_cannot_commit_is_unavailable_with_retry_after_ms(p: Parts) -> None:
    dev = p.enroll()

    async def close_store(_: pb_grpc.TelemetryStub, __: grpc.aio.Channel) -> object:
        p.store.close()
        return None

    ok, _, down = against(
        p,
        send(dev.device_id, dev.secret, [(1, signin("a"))]),  # caches the credential
        close_store,
        send(dev.device_id, dev.secret, [(2, signin("b"))]),
    )
    assert isinstance(ok, pb.ReportResponse)
    err = failed(down)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert trailer(err, "retry-after-ms") == "5000"
    assert err.details().startswith("the database could not commit")


def test_a_hostname_cannot_forge_a_log_line(p: Parts, caplog: pytest.LogCaptureFixture) -> None:
    forged = replace(FACTS, hostname="pc-1\nERROR fleetpulse forged line")
    with caplog.at_level("INFO", logger="fleetpulse"):
        [answer] = against(p, enroll(facts=forged))
    assert isinstance(answer, pb.EnrollResponse)
    [line] = [r.getMessage() for r in caplog.records if "enrolled" in r.getMessage()]
    assert "\n" not in line and "'pc-1\\nERROR fleetpulse forged line'" in line
