"""The agent's own resource ceilings, enforced from inside the process.

Above the CPU ceiling (PRODUCT §5: 0.5 % of one core, averaged between two checks) the agent
measures less often: its interval doubles at each check that is over, up to 8×, and halves
again once it is well under. Above the RSS ceiling (a leak: the steady RSS of `run` is about
55 MiB) it stops cleanly with exit code 75 so the service manager starts a fresh process.
Each decision is logged. The ceilings come from the environment, with defaults:

FLEETPULSE_CPU_PERCENT      0.5   measure less often above this CPU share (of one core)
FLEETPULSE_RSS_MAX_MIB      96    exit above this resident memory (systemd: MemoryMax=128M)
FLEETPULSE_WATCHDOG_SECONDS 60    how often to look
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import psutil

from fleetpulse.agent.errors import ConfigError

log = logging.getLogger("fleetpulse.agent.watchdog")

MIB = 1024 * 1024
EXIT_CODE = 75  # EX_TEMPFAIL: restart me
MAX_FACTOR = 8.0


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_percent: float = 0.5
    rss_max_bytes: int = 96 * MIB
    every_seconds: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None
            if value <= 0:
                raise ConfigError(f"{name} must be > 0, got {raw!r}")
            return value

        d = cls()
        return cls(
            number("FLEETPULSE_CPU_PERCENT", d.cpu_percent),
            int(number("FLEETPULSE_RSS_MAX_MIB", d.rss_max_bytes / MIB) * MIB),
            number("FLEETPULSE_WATCHDOG_SECONDS", d.every_seconds),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    rss_bytes: int
    cpu_seconds: float  # user + system since the process started
    at: float  # monotonic seconds


def process_sample() -> Sample:
    proc = psutil.Process()
    cpu = proc.cpu_times()
    return Sample(int(proc.memory_info().rss), cpu.user + cpu.system, time.monotonic())


class Action(Enum):
    OK = "ok"
    THROTTLE = "throttle"
    RELAX = "relax"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    factor: float  # multiply the measuring interval by this
    reason: str = ""


class Watchdog:
    """Compares each sample with the ceilings; the CPU share is over the time between two
    samples."""

    def __init__(self, limits: Limits, sample: Callable[[], Sample] = process_sample) -> None:
        self.limits = limits
        self._sample = sample
        self._last: Sample | None = None
        self.factor = 1.0

    def check(self) -> Verdict:
        now = self._sample()
        last, self._last = self._last, now
        rss_mib = now.rss_bytes / MIB
        lim = self.limits
        if now.rss_bytes > lim.rss_max_bytes:
            reason = (
                f"RSS {rss_mib:.1f} MiB is over the {lim.rss_max_bytes / MIB:.0f} MiB "
                "ceiling: exiting for the service manager to start a fresh agent"
            )
            log.error("%s", reason)
            return Verdict(Action.EXIT, self.factor, reason)
        cpu = None
        if last is not None and now.at > last.at:
            cpu = 100.0 * (now.cpu_seconds - last.cpu_seconds) / (now.at - last.at)
        if cpu is not None and cpu > lim.cpu_percent:
            over = f"CPU {cpu:.2f} % > {lim.cpu_percent:g} %"
            if self.factor >= MAX_FACTOR:
                return Verdict(Action.OK, self.factor, over)
            self.factor = min(MAX_FACTOR, self.factor * 2)
            reason = f"{over}: measuring {self.factor:g}x less often"
            log.warning("%s", reason)
            return Verdict(Action.THROTTLE, self.factor, reason)
        well_under = cpu is None or cpu <= lim.cpu_percent / 2
        if self.factor > 1 and well_under:
            self.factor = max(1.0, self.factor / 2)
            reason = f"back under the ceilings: measuring {self.factor:g}x the normal interval"
            log.info("%s", reason)
            return Verdict(Action.RELAX, self.factor, reason)
        return Verdict(Action.OK, self.factor)


class Paced(Protocol):
    interval: float


class Guard:
    """Runs a Watchdog beside the agent loop: sets ``paced.interval`` and, past the hard
    ceiling, sets ``stop`` and records the exit code for the command to return."""

    def __init__(self, paced: Paced, stop: threading.Event, watchdog: Watchdog) -> None:
        self._paced = paced
        self._stop = stop
        self._dog = watchdog
        self._base = paced.interval
        self._set = paced.interval
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)

    def start(self) -> Guard:
        self._thread.start()
        return self

    def step(self) -> Verdict:
        if self._paced.interval != self._set:  # changed by the collector's settings
            self._base = self._paced.interval
        verdict = self._dog.check()
        if verdict.action is Action.EXIT:
            self.exit_code = EXIT_CODE
            self._stop.set()
        self._set = self._base * verdict.factor
        self._paced.interval = self._set
        return verdict

    def _loop(self) -> None:
        while not self._stop.wait(self._dog.limits.every_seconds):
            self.step()
