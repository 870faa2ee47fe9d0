"""The boot source: one record per boot, once its duration is known or can no longer be.

Every boot passes the plausibility rules (agent.plausibility) before it is reported, on
every platform.
"""

from __future__ import annotations

from agent import platform
from agent.memory import Memory
from agent.platform.env import Env
from agent.plausibility import BootContext, judge_boot
from agent.records import BootRecord

#: Windows writes its boot-performance event minutes after boot; wait this long for it
#: before reporting the boot with an unknown duration.
SETTLE_SECONDS = 900.0


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
        judged = judge_boot(boot, BootContext(now=self._env.clock()), self._env.problems)
        self.current = judged
        if judged is None:  # starts in the future: nothing of it can be placed in time
            return []
        boot = judged
        key = f"boot:{boot.boot_id}"
        if key in self._memory:
            return []
        settled = self._env.clock() - boot.boot_time >= self._settle
        if boot.total_seconds is None and not settled:
            return []
        self._pending.append(key)
        return [boot]

    def confirm(self) -> None:
        """Remembers what ``measure`` returned, once it is committed to the spool (a crash
        in between must not lose the record)."""
        for key in self._pending:
            self._memory.add(key)
        self._pending.clear()
