"""Human durations on the command line: 90s, 15m, 24h, 7d, 2w (a unit is required).

A bare number is refused rather than read as seconds: ``--expires 7`` meant seven days far
more often than seven seconds. The units are those of Prometheus' duration strings
(https://prometheus.io/docs/prometheus/latest/configuration/configuration/#configuration-file,
``<duration>``), which operators of this system already write in alert rules.
"""

from __future__ import annotations

import re

from fleetpulse.collector.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_BARE = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
EXAMPLES = "90s, 15m, 12h, 7d or 2w"


def parse_duration(text: str, option: str = "") -> float:
    """Seconds in ``text``, a number with one unit: s, m, h, d (86,400 s) or w (7 d).

    Errors: ConfigError (one line, naming ``option`` when given) for a bare number (the
    unit is required) and for anything else that is not a duration."""
    where = f"{option}: " if option else ""
    m = _RE.match(text)
    if m:
        return float(m.group(1)) * _UNITS[m.group(2)]
    if _BARE.match(text):
        raise ConfigError(
            f"{where}{text.strip()!r} has no unit: write e.g. {text.strip()}d or "
            f"{text.strip()}h (units: s, m, h, d, w)"
        )
    raise ConfigError(f"{where}not a duration: {text!r} (use e.g. {EXAMPLES})")


def positive_duration(text: str, option: str) -> float:
    """``parse_duration`` for options where no time at all makes no sense (a token that
    expires at once, devices silent for 0 s); ConfigError for zero."""
    seconds = parse_duration(text, option)
    if seconds <= 0:
        raise ConfigError(f"{option}: must be more than 0, got {text.strip()!r}")
    return seconds
