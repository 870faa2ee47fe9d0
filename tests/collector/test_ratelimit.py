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


def test_a_zero_rate_never_limits() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=lambda: 0.0)
    guard = FailureLimiter(rate=0, burst=1, clock=lambda: 0.0)
    for _ in range(100):
        limiter.check("d", 10_000)
        guard.failed("p")
    assert guard.wait("p") == 0.0


def test_an_idle_device_saves_up_to_the_burst_only() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=3, clock=lambda: now[0])
    limiter.check("d")
    now[0] = 1000.0  # a long pause refills to the burst, not to 1000 tokens
    for _ in range(3):
        limiter.check("d")
    with pytest.raises(RateLimited, match=r"over its report rate \(1/s, burst 3.*retry in 1.0 s"):
        limiter.check("d")


def test_a_refused_report_takes_no_tokens_and_its_wait_counts_its_cost() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=4, clock=lambda: now[0])
    limiter.check("d", 1500)  # 3 tokens of 4
    with pytest.raises(RateLimited) as err:
        limiter.check("d", 1000)  # costs 2, 1 left: wait (2 - 1) / 2 s
    assert err.value.retry_after == pytest.approx(0.5)
    now[0] = 0.5
    limiter.check("d", 1000)  # the refusal took nothing: exactly 2 tokens now


def test_failures_past_the_burst_wait_at_most_one_token() -> None:
    now = [0.0]
    guard = FailureLimiter(rate=0.5, burst=1, clock=lambda: now[0])
    for _ in range(10):
        guard.failed("p")  # the bucket floors at 0: hammering does not pile up debt
    assert guard.wait("p") == pytest.approx(2.0)
    now[0] = 2.0
    assert guard.wait("p") == 0.0
