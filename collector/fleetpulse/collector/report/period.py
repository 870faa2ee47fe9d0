"""Report periods on the command line: ``--since``/``--until`` and ``--compare A B``.

A **point** in time is one of
  - a date ``2026-10-01`` (00:00 UTC that day),
  - a UTC date and time ``2026-10-01T08:30`` or ``2026-10-01T08:30:00`` (a trailing ``Z`` is
    allowed),
  - a duration before now ``28d`` (``90s``, ``15m``, ``24h``, ``7d``, ``2w``),
  - ``now``.

A **period** is ``START..END`` or just ``START`` (= ``START..now``); it holds what started in
``[START, END)``. A date as END includes that whole day, so ``2026-10-01..2026-10-28`` is the
28 days from 1 October 00:00 to 29 October 00:00 UTC. ``56d..28d`` is the four weeks before the
last four. Every mistake is a ConfigError with a one-line message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fleetpulse.collector.durations import parse_duration
from fleetpulse.collector.errors import ConfigError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$")
DURATION = re.compile(r"^\d+(\.\d+)?[smhdw]?$")
EARLIEST = datetime(2, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
OUT_OF_RANGE = "years 2 to 9998"
GRAMMAR = "DATE, DATE'T'HH:MM[:SS] (UTC), a duration before now such as 28d, or now"


def parse_point(text: str, now: float, end: bool, what: str) -> float:
    """Unix seconds of a point; a bare date as an ``end`` is the end of that day. A point
    outside years 2 to 9998 (UTC) is a ConfigError: the report's weeks reach a week beyond
    the period, and Python's calendar ends at years 1 and 9999."""
    point = _point(text, now, end, what)
    if not EARLIEST <= point <= LATEST:
        raise ConfigError(f"{what}: {text!r} is out of range ({OUT_OF_RANGE})")
    return point


def _point(text: str, now: float, end: bool, what: str) -> float:
    value = text.strip()
    if value == "now":
        return now
    try:
        if _DATE.match(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1) if end else day).timestamp()
        if _DATETIME.match(value):
            return datetime.fromisoformat(value.removesuffix("Z")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ConfigError(f"{what}: no such date or time: {text!r}") from None
    except OverflowError:
        raise ConfigError(f"{what}: {text!r} is out of range ({OUT_OF_RANGE})") from None
    if DURATION.match(value):
        return now - parse_duration(value)
    raise ConfigError(f"{what} must be {GRAMMAR}, got {text!r}")


def parse_period(text: str, now: float, what: str) -> tuple[float, float]:
    """``START..END`` or ``START`` as [since, until) in Unix seconds."""
    start, sep, end = text.partition("..")
    if not start.strip() or (sep and not end.strip()):
        raise ConfigError(
            f"{what} must be START..END or START (e.g. 2026-10-01..2026-10-28 or 28d), got {text!r}"
        )
    since = parse_point(start, now, False, what)
    until = parse_point(end, now, True, what) if sep else now
    _check(since, until, what, text)
    return since, until


def since_until(since: str | None, until: str | None, now: float) -> tuple[float, float]:
    """The period of ``--since`` (default 28d) and ``--until`` (default now)."""
    start = parse_point(since or "28d", now, False, "--since")
    end = parse_point(until or "now", now, True, "--until")
    _check(start, end, "--since/--until", f"{since or '28d'}..{until or 'now'}")
    return start, end


def _check(since: float, until: float, what: str, text: str) -> None:
    if not since < until:
        raise ConfigError(f"{what}: the period is empty or reversed: {text!r}")
