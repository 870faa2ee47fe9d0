"""Exponential backoff with full jitter that honours the collector's retry hints."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, hint: float | None = None) -> float:
        """The wait before the next attempt: jittered, never shorter than the server's hint."""
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** min(self.failures - 1, 30))
        delay = self.rng.uniform(ceiling / 2, ceiling)
        return max(delay, hint or 0.0)

    def reset(self) -> None:
        self.failures = 0
