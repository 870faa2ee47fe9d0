"""Human durations on the command line: 90s, 15m, 24h, 7d, 2w."""

from __future__ import annotations

import re

from fleetpulse.collector.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    m = _RE.match(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 15m, 24h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]
