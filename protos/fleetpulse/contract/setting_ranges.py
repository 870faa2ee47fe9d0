"""The allowed range of every setting an agent takes, one table for both sides.

The agent's ``config.toml`` (fleetpulse.agent.config) and the collector's central settings
(fleetpulse.collector.settings) check their values against this table, under the same names, so a
value one side accepts the other does too. It is part of the contract both import.

Each range is inclusive. ``integer`` ranges take whole numbers only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The most records the collector takes in one report; a larger report is refused whole
#: with INVALID_ARGUMENT (fleetpulse.collector.validation), so ``batch_records`` may not exceed it.
REPORT_MAX_RECORDS = 5000

#: An agent's measure/report cycle when neither config.toml nor the collector sets one.
DEFAULT_REPORT_INTERVAL_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    unit: str
    integer: bool = False

    def describe(self) -> str:
        return f"{_number(self.low)}..{_number(self.high)} {self.unit}"

    def problem(self, value: float) -> str | None:
        """Why ``value`` is not allowed, or None when it is."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number ({self.describe()}), got {value!r}"
        if not math.isfinite(value) or not self.low <= value <= self.high:
            return f"must be {self.describe()}, got {value!r}"
        if self.integer and value != int(value):
            return f"must be a whole number ({self.describe()}), got {value!r}"
        return None


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


DAY = 86400.0

RANGES: dict[str, Range] = {
    # Shared with the collector's central settings. Below one second the agent loop would
    # measure and report continuously; above a day a device never counts as "reporting".
    "report_interval_seconds": Range(1, DAY, "seconds", integer=True),
    "signin_slo_seconds": Range(1, DAY, "seconds"),
    # Agent-only settings.
    "spool_max_bytes": Range(1024 * 1024, 1024**4, "bytes", integer=True),
    "spool_max_age_seconds": Range(3600, 365 * DAY, "seconds"),
    "batch_records": Range(1, REPORT_MAX_RECORDS, "records", integer=True),
    # A report must be answered within this; 0 would fail every call.
    "deadline_seconds": Range(1, 300, "seconds"),
    # psutil.cpu_percent() of the whole machine is 0..100.
    "responsive_cpu_percent": Range(1, 100, "percent"),
    # The CPU is sampled every 0.5 s while a desktop is awaited (fleetpulse.agent.runner.CPU_TICK).
    "responsive_quiet_seconds": Range(0.5, 3600, "seconds"),
    # No sign-in phase lasts a day (the collector refuses longer durations).
    "responsive_max_wait_seconds": Range(1, DAY, "seconds"),
    "app_top_n": Range(0, 100_000, "apps", integer=True),
    "boot_settle_seconds": Range(0, DAY, "seconds"),
}


def check(name: str, value: float) -> str | None:
    """``"<name> must be ..."`` when ``value`` is outside the range of ``name``, else None.

    Raises KeyError for a name the table does not hold."""
    problem = RANGES[name].problem(value)
    return None if problem is None else f"{name} {problem}"
