"""Token buckets, in memory, per collector: reports per device (costed by their record
count) and failed authentications per peer address.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; a request that
finds fewer tokens than it costs is refused with the wait until it would fit (the
``retry-after-ms`` the servicer sends with RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fleetpulse.collector.errors import RateLimited

#: a report costs one token per started RECORDS_PER_TOKEN records (the agent's default
#: batch), at least one: with the default --device-rate 1 and --device-burst 60 a device
#: may send 1 report/s or 500 records/s, whichever binds, after 60 reports / 30,000 records
RECORDS_PER_TOKEN = 500
#: failing peers remembered at once; the least recently failing is forgotten first
MAX_PEERS = 65_536


def report_cost(records: int, burst: float) -> float:
    """Tokens a report of ``records`` records costs: ceil(records / RECORDS_PER_TOKEN), at
    least 1, at most ``burst`` (so that any report the collector accepts can pass)."""
    return float(min(max(1, math.ceil(records / RECORDS_PER_TOKEN)), max(1.0, burst)))


class RateLimiter:
    """Per-device report budget: ``rate`` tokens/s, ``burst`` at most (0 rate = no limit)."""

    def __init__(
        self, rate: float = 1.0, burst: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # device -> (tokens, at)

    def check(self, device_id: str, records: int = 0) -> None:
        """Takes ``report_cost(records)`` tokens for this device or raises RateLimited
        with the wait needed (seconds)."""
        if self.rate <= 0:
            return
        cost = report_cost(records, self.burst)
        now = self._clock()
        tokens, at = self._buckets.get(device_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < cost:
            self._buckets[device_id] = (tokens, now)
            wait = (cost - tokens) / self.rate
            raise RateLimited(
                f"device {device_id} is over its report rate ({self.rate:g}/s, burst "
                f"{self.burst:g}; this report of {records} records costs {cost:g}, one per "
                f"{RECORDS_PER_TOKEN} records); retry in {math.ceil(wait * 10) / 10:.1f} s",
                retry_after=wait,
            )
        self._buckets[device_id] = (tokens - cost, now)
        if len(self._buckets) > 1_000_000:  # forget idle devices rather than grow forever
            self._buckets.clear()


def peer_address(peer: str) -> str:
    """The client address of a gRPC peer string (``ipv4:10.1.2.3:5000`` -> ``10.1.2.3``,
    ``ipv6:[2001:db8::1]:5000`` -> ``2001:db8::/64``, an IPv4-mapped IPv6 address -> the
    IPv4 address); anything else (``unix:...``, unparsable) is returned as given.

    IPv6 peers are grouped by /64, the smallest prefix a site is normally assigned
    (RFC 6177), so rotating addresses inside one's own prefix does not reset the bucket."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    if kind == "ipv6" and rest.startswith("["):
        host = rest[1 : rest.find("]")].split("%")[0]
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            return peer
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return peer


class FailureLimiter:
    """Failed authentications per peer address: ``burst`` failures at once, then ``rate``
    a second (0 rate = no limit). Only failures take tokens, so a peer that never fails
    is never limited, and memory holds at most MAX_PEERS failing peers (least recently
    failing forgotten first). Thread-safe (Enroll runs in worker threads)."""

    def __init__(
        self, rate: float = 1.0, burst: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, peer: str, now: float) -> float:
        tokens, at = self._buckets.get(peer, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, peer: str) -> float:
        """Seconds until this peer may fail again; 0.0 if it may now."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            if peer not in self._buckets:
                return 0.0
            tokens = self._tokens(peer, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def failed(self, peer: str) -> None:
        """Takes one token from this peer's bucket (it may go below 1: the next request
        from the peer waits for it)."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            tokens = self._tokens(peer, now)
            self._buckets[peer] = (max(0.0, tokens - 1.0), now)
            self._buckets.move_to_end(peer)
            while len(self._buckets) > MAX_PEERS:
                self._buckets.popitem(last=False)
