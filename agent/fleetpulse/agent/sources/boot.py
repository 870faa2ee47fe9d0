"""The boot source: one record per boot, once its duration is known or can no longer be.

Every boot passes the plausibility rules (agent.plausibility) before it is reported, on
every platform.

A boot keeps the identity it was first seen with for as long as it lasts: the backends
derive it from what the OS fixes once per boot (docs/measurement.md), but a fallback can
still change form between two polls (a registry read that times out once on Windows, then
the kernel's start event) or its start time can move by a second (psutil on Windows). So
the first (boot id, start time) seen is remembered across restarts, and a later
observation with the same id, or a start within ``SAME_BOOT_SLACK`` of it, is that boot.
"""

from __future__ import annotations

from dataclasses import replace

from fleetpulse.agent import platform
from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.plausibility import BootContext, judge_boot
from fleetpulse.contract.records import BootRecord

#: Windows writes its boot-performance event minutes after boot; wait this long for it
#: before reporting the boot with an unknown duration.
SETTLE_SECONDS = 900.0
#: Two observations of one boot's start differ by at most this: psutil's Windows boot time
#: moves by up to 1 s between calls. No machine boots twice within 2 s, so two boots
#: never fall this close.
SAME_BOOT_SLACK = 2.0
IDENTITY = "bootid:"


class BootSource:
    def __init__(self, env: Env, memory: Memory, settle_seconds: float = SETTLE_SECONDS) -> None:
        self._env = env
        self._memory = memory
        self._settle = settle_seconds
        self.current: BootRecord | None = None
        self._pending: list[str] = []

    def measure(self) -> list[BootRecord]:
        try:
            boot = platform.boot_record(self._env)
        except Exception as exc:  # a backend bug must not stop the agent loop
            self._env.problems.skip("boot", f"{type(exc).__name__}: {exc}")
            return []
        known = self._identities()
        same = next((k for k in known if k[1] == boot.boot_id), None) or next(
            (k for k in known if abs(k[0] - boot.boot_time) <= SAME_BOOT_SLACK), None
        )
        if same is not None:
            boot = replace(boot, boot_time=same[0], boot_id=same[1])
        previous = max((t for t, _ in known if t < boot.boot_time - SAME_BOOT_SLACK), default=None)
        ctx = BootContext(now=self._env.clock(), previous_boot_time=previous)
        judged = judge_boot(boot, ctx, self._env.problems)
        self.current = judged
        if judged is None:  # starts in the future: nothing of it can be placed in time
            return []
        boot = judged
        if same is None:
            self._memory.add(f"{IDENTITY}{boot.boot_time!r}@{boot.boot_id}")
        key = f"boot:{boot.boot_id}"
        if key in self._memory:
            return []
        settled = self._env.clock() - boot.boot_time >= self._settle
        if boot.total_seconds is None and not settled:
            return []
        self._pending.append(key)
        return [boot]

    def _identities(self) -> list[tuple[float, str]]:
        """(start time, boot id) of every boot seen, oldest first."""
        out: list[tuple[float, str]] = []
        for key in self._memory.with_prefix(IDENTITY):
            at, _, boot_id = key[len(IDENTITY) :].partition("@")
            try:
                out.append((float(at), boot_id))
            except ValueError:
                continue  # a damaged entry: that boot is seen anew
        return out

    def confirm(self) -> None:
        """Remembers what ``measure`` returned, once it is committed to the spool (a crash
        in between must not lose the record)."""
        for key in self._pending:
            self._memory.add(key)
        self._pending.clear()
