"""Foreground seconds per executable, sampled inside the user's session by the per-user
helper (``fleetpulse-agent foreground``) and handed to the service through files
(``handover``).

Each sample asks the probe for the foreground executable's file name and credits it with
the time since the previous sample, at most ``MAX_GAP`` seconds (a machine that slept, or a
clock set back, credits nothing for the gap). Only the executable's name is kept: no
window title, no path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.sources import handover
from fleetpulse.agent.sources.apps import normalise_app
from fleetpulse.agent.sources.handover import ForegroundSlice

log = logging.getLogger("fleetpulse.agent.sources.foreground")

TICK = 1.0
MAX_GAP = 5.0
FLUSH_SECONDS = 60.0
#: files one session keeps while the service does not take them: a day of 1-minute flushes
MAX_PENDING = 1440
PROBE_SOURCE = "foreground"


class ForegroundSampler:
    """Samples ``probe`` (the foreground executable, ``None`` when there is none or it
    cannot be known) and flushes the seconds to ``folder`` as one file per flush."""

    def __init__(
        self,
        probe: Callable[[], str | None],
        clock: Callable[[], float],
        session_id: str,
        folder: Path,
        problems: Problems,
        keep: int = MAX_PENDING,
    ) -> None:
        if not handover.valid_session(session_id):
            raise ValueError(f"session id {session_id!r} is not usable in a file name")
        self._probe = probe
        self._clock = clock
        self._session = session_id
        self._folder = folder
        self._problems = problems
        self._keep = keep
        self._start = self._last = clock()
        self._seconds: dict[str, float] = {}

    def sample(self) -> None:
        """Credits the executable in the foreground now with the time since the last
        sample. A probe that fails (a protected or vanished process) credits nothing."""
        now = self._clock()
        gap = min(max(0.0, now - self._last), MAX_GAP)
        self._last = now
        try:
            app = self._probe()
        except Exception as exc:  # unknowable now; never fatal to the helper
            self._problems.skip(PROBE_SOURCE, f"{type(exc).__name__}: {exc}")
            return
        name = normalise_app(app) if app else ""
        if gap > 0 and handover.valid_app(name):
            self._seconds[name] = self._seconds.get(name, 0.0) + gap

    def flush(self) -> ForegroundSlice | None:
        """Writes the seconds since the last flush (``{}`` when nothing was in the
        foreground) and starts a new slice. Returns what was written, or None when no
        time passed (a clock set back) or the folder cannot be written (those seconds are
        dropped)."""
        end = max(self._clock(), self._last)
        # after a sleep the slice is only its last hour: nothing was credited while asleep
        start = max(self._start, end - handover.MAX_SPAN)
        span = end - start
        seconds = {app: round(min(s, span), 3) for app, s in self._seconds.items()}
        piece = ForegroundSlice(self._session, start, end, seconds)
        self._start, self._seconds = end, {}
        if span <= 0:
            return None
        try:
            handover.write(self._folder, piece)
            handover.prune(self._folder, self._session, self._keep)
        except OSError as exc:
            log.warning("cannot write foreground seconds to %s: %s", self._folder, exc)
            return None
        return piece

    def run(
        self,
        stop: threading.Event,
        tick: float = TICK,
        flush_seconds: float = FLUSH_SECONDS,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> None:
        """Samples every ``tick`` seconds and flushes every ``flush_seconds`` until
        ``stop`` is set or ``keep_going()`` is false, then flushes what is left."""
        next_flush = self._clock() + flush_seconds
        while not stop.wait(tick) and keep_going():
            self.sample()
            if self._clock() >= next_flush:
                self.flush()
                next_flush = self._clock() + flush_seconds
        self.sample()
        self.flush()
