"""The Ingestor and the Authenticator in process, over a real SQLite store: what each
report does to the store, the metrics and the caller (no grpc, no subprocess)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.collector.errors import (
    InvalidReport,
    PermissionDenied,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
    WrongSite,
)
from fleetpulse.collector.ingest import Ack
from fleetpulse.collector.model import Report
from fleetpulse.collector.ratelimit import FailureLimiter, RateLimiter
from fleetpulse.contract.records import BootRecord
from tests.inprocess import NOW, TOKEN, Parts, parts, report, signin

RECORDS = "fleetpulse_ingest_records_total"
FAILURES = "fleetpulse_auth_failures_total"


def ingest(p: Parts, rep: Report, authorization: str | None, peer: str = "") -> Ack:
    return asyncio.run(p.ingestor.report(rep, authorization, peer))


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Parts]:
    made = parts(tmp_path)
    yield made
    made.close()


def test_a_report_is_stored_once_and_its_resend_counts_as_duplicates(p: Parts) -> None:
    dev = p.enroll()
    auth = f"Device {dev.secret}"
    rep = report(dev.device_id, [(7, signin("s1", 42.0)), (8, BootRecord("boot-1", NOW - 900))])
    first = ingest(p, rep, auth)
    assert (first.accepted, first.duplicates, first.site) == (2, 0, "north")
    again = ingest(p, rep, auth)
    assert (again.accepted, again.duplicates) == (0, 2)
    [stored] = p.store.signins_between(0, NOW + 1)
    assert stored.total_seconds == 42.0
    assert p.sample(RECORDS, kind="signin", result="accepted") == 1
    assert p.sample(RECORDS, kind="signin", result="duplicate") == 1
    assert p.sample(RECORDS, kind="boot", result="duplicate") == 1


def test_an_invalid_record_rejects_the_report_naming_only_its_seq(p: Parts) -> None:
    dev = p.enroll()
    rep = report(dev.device_id, [(1, signin("ok")), (2, signin("bad", seconds=90_000.0))])
    with pytest.raises(InvalidReport) as err:
        ingest(p, rep, f"Device {dev.secret}")
    assert err.value.seqs == [2]
    assert "record seq=2: signin: total_seconds" in str(err.value)
    assert p.store.signins_between(0, NOW + 1) == []  # nothing of the report was stored
    assert p.sample(RECORDS, kind="signin", result="rejected") == 1  # the bad one only
    assert p.sample(RECORDS, kind="signin", result="accepted") == 0


@pytest.mark.parametrize(
    ("authorization", "error", "reason"),
    [
        (None, Unauthenticated, "missing"),
        ("Bearer x", Unauthenticated, "missing"),
        ("Device fpd_not-the-secret", PermissionDenied, "wrong_credential"),
    ],
)
def test_bad_credentials_are_refused_and_counted(
    p: Parts, authorization: str | None, error: type[Exception], reason: str
) -> None:
    dev = p.enroll()
    with pytest.raises(error):
        ingest(p, report(dev.device_id, [(1, signin("s"))]), authorization)
    assert p.sample(FAILURES, rpc="Report", reason=reason) == 1
    assert p.store.signins_between(0, NOW + 1) == []


def test_an_unknown_or_malformed_device_id_is_unauthenticated(p: Parts) -> None:
    with pytest.raises(Unauthenticated, match="unknown device '0000"):
        ingest(p, report("00000000-0000-4000-8000-000000000000", []), "Device fpd_x")
    assert p.sample(FAILURES, rpc="Report", reason="unknown") == 1
    with pytest.raises(Unauthenticated, match="unknown device: "):
        ingest(p, report("x" * 65, []), "Device fpd_x")  # refused before any lookup
    assert p.sample(FAILURES, rpc="Report", reason="unknown") == 1


def test_the_device_rate_limit_answers_with_the_wait(tmp_path: Path) -> None:
    now = [NOW]
    p = parts(tmp_path, clock=lambda: now[0], limiter=RateLimiter(1, 2, lambda: now[0]))
    try:
        dev = p.enroll()
        auth = f"Device {dev.secret}"
        ingest(p, report(dev.device_id, [(1, signin("a"))]), auth)
        ingest(p, report(dev.device_id, [(2, signin("b"))]), auth)
        with pytest.raises(RateLimited) as err:
            ingest(p, report(dev.device_id, [(3, signin("c"))]), auth)
        assert err.value.retry_after == pytest.approx(1.0)
        assert len(p.store.signins_between(0, NOW + 1)) == 2
        now[0] += 1.0
        assert ingest(p, report(dev.device_id, [(3, signin("c"))]), auth).accepted == 1
    finally:
        p.close()


def test_enroll_refuses_bad_tokens_other_sites_and_nul_bytes(p: Parts) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        p.auth.enroll("nope", "h", "linux", "", "", "", "", NOW)
    with pytest.raises(Unauthenticated):
        p.auth.enroll("fpt_unknown", "h", "linux", "", "", "", "", NOW)
    assert p.sample(FAILURES, rpc="Enroll", reason="malformed") == 1
    with pytest.raises(WrongSite, match="south"):
        p.enroll(expected_site="south")
    with pytest.raises(InvalidReport, match="NUL"):
        p.enroll(hostname="pc\x00")
    assert p.store.device_rows(NOW) == []  # none of them enrolled a device
    dev = p.enroll(expected_site="north")
    assert dev.site == "north" and dev.secret.startswith("fpd_")
    assert len(dev.user_hash_key) == 32
    assert [t.uses for t in p.store.tokens()] == [1]


def test_revocation_takes_effect_when_the_cached_credential_expires(tmp_path: Path) -> None:
    now = [NOW]
    p = parts(tmp_path, clock=lambda: now[0])
    try:
        dev = p.enroll()
        auth = f"Device {dev.secret}"
        assert p.auth.authenticate(dev.device_id, auth).site == "north"
        assert p.store.revoke_device(dev.device_id, NOW)
        assert p.auth.authenticate(dev.device_id, auth).revoked is False  # cached, 5 s
        now[0] += 5.0
        with pytest.raises(Unauthenticated, match="revoked"):
            p.auth.authenticate(dev.device_id, auth)
    finally:
        p.close()


def test_failed_authentications_throttle_the_peer_but_not_known_devices(tmp_path: Path) -> None:
    now = [NOW]
    guard = FailureLimiter(rate=1, burst=2, clock=lambda: now[0])
    p = parts(tmp_path, clock=lambda: now[0], guard=guard)
    try:
        peer = "ipv4:10.0.0.9:40000"
        dev = p.enroll()
        good = f"Device {dev.secret}"
        p.auth.authenticate(dev.device_id, good, peer)  # accepted once: vouched from now on
        for _ in range(2):
            with pytest.raises(PermissionDenied):
                p.auth.authenticate(dev.device_id, "Device fpd_guess", peer)
        with pytest.raises(RateLimited) as err:  # before any hashing or database read
            p.auth.enroll(TOKEN, "h", "linux", "", "", "", "", NOW, peer="ipv4:10.0.0.9:1")
        assert err.value.retry_after == pytest.approx(1.0)
        assert p.sample("fleetpulse_auth_throttled_total", rpc="Enroll") == 1
        assert p.auth.authenticate(dev.device_id, good, peer).device_id == dev.device_id
        assert p.enroll().site == "north"  # another peer ("") is not throttled
    finally:
        p.close()


def test_an_unreachable_database_is_store_unavailable(tmp_path: Path) -> None:
    p = parts(tmp_path)
    dev = p.enroll()
    p.close()
    with pytest.raises(StoreUnavailable, match="cannot check the device credential"):
        p.auth.authenticate(dev.device_id, f"Device {dev.secret}")
