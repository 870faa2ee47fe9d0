from __future__ import annotations

import random

from fleetpulse.agent.backoff import Backoff


def test_delays_grow_with_jitter_up_to_the_cap() -> None:
    b = Backoff(base=1.0, cap=30.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(10)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(30.0, 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lock-step


def test_server_hint_is_a_floor_and_reset_starts_over() -> None:
    b = Backoff(base=1.0, cap=300.0, rng=random.Random(1))
    assert b.next_delay(hint=42.0) == 42.0
    b.next_delay()
    b.reset()
    assert b.next_delay() <= 1.0
