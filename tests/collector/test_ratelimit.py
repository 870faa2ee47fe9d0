"""Token buckets: record-weighted report cost, peer addresses, bounded failure memory."""

from __future__ import annotations

import pytest

from fleetpulse.collector import ratelimit
from fleetpulse.collector.errors import RateLimited
from fleetpulse.collector.ratelimit import FailureLimiter, RateLimiter, peer_address, report_cost


def test_a_report_costs_one_token_per_started_500_records_within_the_burst() -> None:
    assert [report_cost(n, 60) for n in (0, 1, 500, 501, 5000)] == [1, 1, 1, 2, 10]
    assert report_cost(40_000, 60) == 60  # never more than the burst: it can always pass


def test_huge_reports_drain_the_device_bucket_by_records() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=10, clock=lambda: now[0])
    limiter.check("big", 5000)
    with pytest.raises(RateLimited) as err:
        limiter.check("big", 1)
    assert err.value.retry_after == pytest.approx(1.0)
    for _ in range(10):
        limiter.check("small", 1)
    now[0] = 10.0
    limiter.check("big", 5000)


def test_peer_address_drops_the_port_and_groups_ipv6_by_64() -> None:
    assert peer_address("ipv4:10.1.2.3:50000") == "10.1.2.3"
    assert peer_address("ipv6:[2001:db8:0:1:aaaa::1]:443") == "2001:db8:0:1::/64"
    assert peer_address("ipv6:[2001:db8:0:1:bbbb::2]:1") == "2001:db8:0:1::/64"
    assert peer_address("ipv6:[::ffff:192.0.2.7]:5") == "192.0.2.7"
    assert peer_address("unix:/run/fp.sock") == "unix:/run/fp.sock"


def test_only_failures_count_and_the_bucket_refills() -> None:
    now = [0.0]
    guard = FailureLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert guard.wait("a") == 0.0
    for _ in range(3):
        guard.failed("a")
    assert guard.wait("a") == pytest.approx(0.5)
    assert guard.wait("b") == 0.0
    now[0] = 0.5
    assert guard.wait("a") == 0.0


def test_failing_peers_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_PEERS", 3)
    guard = FailureLimiter(rate=1, burst=1, clock=lambda: 0.0)
    for peer in ("a", "b", "c", "d"):
        guard.failed(peer)
    assert guard.wait("a") == 0.0  # the least recently failing peer was forgotten
    assert guard.wait("d") == pytest.approx(1.0)
