"""Per-device report rate limit: a token bucket per device, in memory, per collector."""

from __future__ import annotations

import time
from collections.abc import Callable

from collector.errors import RateLimited


class RateLimiter:
    def __init__(
        self, rate: float = 1.0, burst: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # device -> (tokens, at)

    def check(self, device_id: str) -> None:
        """Takes one token for this device or raises RateLimited with the wait needed."""
        if self.rate <= 0:
            return
        now = self._clock()
        tokens, at = self._buckets.get(device_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[device_id] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
            raise RateLimited(
                f"device {device_id} is over its report rate ({self.rate:g}/s, burst "
                f"{self.burst:g}); retry in {wait:.1f} s",
                retry_after=wait,
            )
        self._buckets[device_id] = (tokens - 1.0, now)
        if len(self._buckets) > 1_000_000:  # forget idle devices rather than grow forever
            self._buckets.clear()
