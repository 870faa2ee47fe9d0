"""The report's warning when its period starts before the oldest sign-ins the store keeps
(the retention ``serve`` recorded in ``meta``, see store/retention.py)."""

from __future__ import annotations

import time


def _span(seconds: float) -> str:
    """``400 days``, ``6 hours`` or ``90 s``: the retention as the operator set it."""
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def kept_warning(since: float, now: float, kept_seconds: float | None) -> str | None:
    """One line if ``since`` (Unix seconds) is older than ``now`` minus the sign-in
    retention, else None (also None when no retention was ever recorded)."""
    if kept_seconds is None:
        return None
    oldest = now - kept_seconds
    if since >= oldest:
        return None
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(oldest))
    return (
        f"the period starts before the oldest kept sign-ins ({_span(kept_seconds)}):"
        f" figures before {when} are missing"
    )
