"""Property tests (hypothesis) on everything that parses input from outside: the
collector's request decoding and validation, its store, the running server, and the
agent's platform parsers.

The default profile is derandomized (the same cases on every run, so a red run is
reproducible and never comes and goes); ``FLEETPULSE_FUZZ=random`` explores new cases
with ten times as many examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fleetpulse-ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fleetpulse-random",
    derandomize=False,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RANDOM = os.environ.get("FLEETPULSE_FUZZ") == "random"
PROFILE = settings.get_profile("fleetpulse-random" if RANDOM else "fleetpulse-ci")


def examples(n: int) -> settings:
    """The profile's settings with ``n`` examples (ten times more when exploring)."""
    return settings(PROFILE, max_examples=n * (10 if RANDOM else 1))
