"""Guessing tokens or credentials is throttled per peer address: once a peer has failed
more than its budget it gets RESOURCE_EXHAUSTED with retry-after-ms (no database work),
a device whose credential the collector already accepted is still served from that same
address, and /metrics counts the failures and the refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.e2e.test_pipeline import _report, enroll, stored
from tests.procs import CollectorProc, scrape, start_collector, value

BURST = 5
GUESSES = 40


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(
        f"sqlite:///{tmp_path / 'c.db'}",
        "--auth-failure-rate", "1",
        "--auth-failure-burst", str(BURST),
    )  # fmt: skip
    yield c
    c.stop()


def _code(call: grpc.UnaryUnaryMultiCallable, request: object, **kw: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10, **kw)
    return err.value  # type: ignore[no-any-return]


def test_credential_guessing_is_throttled_and_a_good_device_is_still_served(
    collector: CollectorProc, tmp_path: Path
) -> None:
    good = enroll(collector.grpc, collector.db, tmp_path / "good")
    good_auth = (("authorization", f"Device {good['device_secret']}"),)
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        assert stub.Report(_report(good, range(1, 2)), metadata=good_auth, timeout=10).accepted == 1

        codes = []
        for _ in range(GUESSES):
            guess = {"device_id": str(uuid.uuid4())}
            auth = (("authorization", f"Device fpd_{uuid.uuid4().hex}"),)
            codes.append(_code(stub.Report, _report(guess, range(1, 2)), metadata=auth))
        answered = [e for e in codes if e.code() == grpc.StatusCode.UNAUTHENTICATED]
        throttled = [e for e in codes if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
        assert len(answered) + len(throttled) == GUESSES
        # the burst, plus at most what refills (1/s) while the loop runs
        assert BURST <= len(answered) <= BURST + 3, [e.code() for e in codes]
        assert codes[-1].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        last = throttled[-1]
        assert "too many failed authentications from 127.0.0.1" in (last.details() or "")
        hint = int(dict(last.trailing_metadata() or ())["retry-after-ms"])
        assert 0 < hint <= 1000

        # a bad enrollment token from the same address is refused the same way
        bad_token = _code(stub.Enroll, pb.EnrollRequest(token="fpt_" + "A" * 43))
        assert bad_token.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        # the device already known keeps being served from the throttled address
        ok = stub.Report(_report(good, range(2, 4)), metadata=good_auth, timeout=10)
        assert ok.accepted == 2
    assert stored(collector.db, "signins") == 3

    samples = scrape(collector.metrics_url)
    failures = value(samples, "fleetpulse_auth_failures_total", rpc="Report", reason="unknown")
    assert failures == len(answered)
    assert value(samples, "fleetpulse_auth_throttled_total", rpc="Report") == len(throttled)
    assert value(samples, "fleetpulse_auth_throttled_total", rpc="Enroll") == 1
    assert value(samples, "fleetpulse_auth_failures_total", rpc="Enroll") == 0
