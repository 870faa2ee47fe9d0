"""Application usage per executable and interval, from cheap psutil process attributes.

Only processes of signed-in users count (not services), and only the executable's name
leaves the device: never command lines, window titles or paths.

Foreground seconds come from the platform's probe where the agent sees the desktop (X11),
or, with an ``inbox``, from the per-user helper's files (Windows: the service runs in
session 0 and sees no desktop). An interval with no foreground data has them unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleetpulse.agent import platform
from fleetpulse.agent.errors import AgentError
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources import handover
from fleetpulse.agent.sources.handover import Inbox
from fleetpulse.contract.records import AppUsageRecord

_ATTRS = ["name", "create_time", "cpu_times", "memory_info", "username"]


def normalise_app(name: str) -> str:
    """The bare executable name, lower-case, no directory part."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base.casefold()[:128]


def signed_in_users(env: Env) -> set[str]:
    return {u.name for u in env.ps.users()}


@dataclass
class _Proc:
    app: str
    started: float
    cpu: float


@dataclass
class _Usage:
    launches: int = 0
    running: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0
    foreground: float = 0.0


class AppSource:
    def __init__(
        self,
        env: Env,
        users: Callable[[Env], set[str]] = signed_in_users,
        top_n: int = 0,
        inbox: Inbox | None = None,
    ) -> None:
        self._env = env
        self._inbox = inbox
        self._users = users
        self._top_n = top_n
        self._procs: dict[tuple[int, float], _Proc] = {}
        self._interval_start = env.clock()
        self._usage: dict[str, _Usage] = {}
        self._foreground_known = False
        self._last_sample = self._interval_start
        self._crash_since = self._interval_start
        self.sample()

    def sample(self) -> None:
        """Takes one process snapshot into the current interval."""
        now = self._env.clock()
        users = {u.casefold().rsplit("\\", 1)[-1] for u in self._users(self._env)}
        span = now - self._last_sample
        seen: dict[tuple[int, float], _Proc] = {}
        peak: dict[str, int] = {}
        for proc in self._env.ps.process_iter(_ATTRS):
            info = proc.info
            user = (info.get("username") or "").casefold().rsplit("\\", 1)[-1]
            name = info.get("name")
            if not name or user not in users:
                continue
            try:
                started = float(info["create_time"])
                times = info["cpu_times"]
                cpu = float(times.user + times.system)
                rss = int(info["memory_info"].rss)
            except (TypeError, KeyError, AttributeError):
                continue  # access denied or a zombie: nothing cheap to learn
            key = (int(proc.pid), started)
            app = normalise_app(name)
            usage = self._usage.setdefault(app, _Usage())
            known = self._procs.get(key)
            if known is None:
                if started >= self._last_sample:
                    usage.launches += 1
                usage.running += now - max(started, self._last_sample)
                usage.cpu += cpu if started >= self._last_sample else 0.0
            else:
                usage.running += span
                usage.cpu += max(0.0, cpu - known.cpu)
            seen[key] = _Proc(app, started, cpu)
            peak[app] = peak.get(app, 0) + rss
        for app, rss in peak.items():
            usage = self._usage[app]
            usage.peak_rss = max(usage.peak_rss, rss)
        self._procs = seen
        self._last_sample = now

    def sample_foreground(self, seconds: float) -> None:
        """Credits ``seconds`` of foreground time to the current foreground app (not with
        an inbox: the helper measures it in the user's session)."""
        if self._inbox is not None:
            return
        try:
            app = platform.foreground_app(self._env)
        except Exception as exc:  # unknowable now; never fatal to the loop
            self._env.problems.skip("foreground", f"{type(exc).__name__}: {exc}")
            app = None
        if app is None:
            return
        self._foreground_known = True
        self._usage.setdefault(normalise_app(app), _Usage()).foreground += seconds

    def _take_foreground(self, inbox: Inbox, now: float) -> None:
        """Credits the helper's slices ended since the interval began; a slice begun
        before it (at most one flush earlier) counts whole here, as its file did not exist
        at the last flush. Slices ended before the interval (the service was stopped) are
        dropped: no record covers their time.

        Any signed-in user can write to the folder, so the files add at most
        ``handover.MAX_APPS`` names to the interval (names it already has are credited
        whatever their number); the seconds of further names are dropped and counted once
        as a parse problem of source ``foreground_helper``."""
        added = 0
        overflow = 0
        for piece in inbox.take(now, self._env.problems):
            if piece.end <= self._interval_start:
                continue
            self._foreground_known = True
            for app, seconds in piece.seconds.items():
                if app not in self._usage:
                    if added >= handover.MAX_APPS:
                        overflow += 1
                        continue
                    added += 1
                self._usage.setdefault(app, _Usage()).foreground += seconds
        if overflow:
            self._env.problems.skip(
                handover.SOURCE,
                f"{overflow} entries dropped: the helper files named more than"
                f" {handover.MAX_APPS} new executables in one interval",
            )

    def flush(self) -> list[AppUsageRecord]:
        """Closes the interval and returns one record per executable used in it."""
        self.sample()
        now = self._env.clock()
        crashes: dict[str, int] | None
        try:
            crashes = {}
            for crash in platform.crashes(self._env, self._crash_since):
                app = normalise_app(crash.app)
                crashes[app] = crashes.get(app, 0) + 1
                self._usage.setdefault(app, _Usage())
        except Exception as exc:  # crash source unavailable: crashes unknown, not 0
            if not isinstance(exc, AgentError):
                self._env.problems.skip("crashes", f"{type(exc).__name__}: {exc}")
            crashes = None
        self._crash_since = now
        if self._inbox is not None:
            self._take_foreground(self._inbox, now)
        usage = self._usage
        names = sorted(usage, key=lambda a: (-usage[a].foreground, -usage[a].running, a))
        if self._top_n:
            names = names[: self._top_n]
        out = [
            AppUsageRecord(
                interval_start=self._interval_start,
                interval_seconds=now - self._interval_start,
                app=app,
                launches=usage[app].launches,
                running_seconds=round(usage[app].running, 3),
                foreground_seconds=round(min(usage[app].foreground, now - self._interval_start), 3)
                if self._foreground_known
                else None,
                cpu_seconds=round(usage[app].cpu, 3),
                peak_rss_bytes=usage[app].peak_rss or None,
                crashes=None if crashes is None else crashes.get(app, 0),
            )
            for app in names
        ]
        self._usage = {}
        self._interval_start = now
        self._foreground_known = False
        return out
