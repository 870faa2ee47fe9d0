"""The sign-in source: turns platform observations into in-progress and complete records.

``core`` is logon start -> desktop shell started; ``responsive`` is shell started -> the
start of the first window of ``quiet_seconds`` in which total CPU stays below
``cpu_percent`` (sampled by :class:`ResponsiveProbe`). A session-ready marker, where
present, ends ``responsive`` instead. ``total`` = core + responsive.

When the platform says when a session ended, its end goes out once as a
:class:`SigninEndRecord` (remembered like complete sign-ins, across restarts).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace

from fleetpulse.agent import platform
from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.plausibility import judge_signin
from fleetpulse.contract.phases import SIGNIN_CORE, SIGNIN_RESPONSIVE
from fleetpulse.contract.records import (
    Phase,
    SigninEndRecord,
    SigninObservation,
    SigninRecord,
    SigninState,
)


def user_hash(key: bytes, user: str) -> str:
    """A keyed hash: stable per fleet, useless without the key, never the name itself."""
    return hmac.new(key, user.casefold().encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass
class ResponsiveProbe:
    """Finds when the desktop became responsive from periodic CPU samples."""

    shell_started_at: float
    cpu_percent: float = 50.0
    quiet_seconds: float = 2.0
    quiet_since: float | None = None
    ready_at: float | None = None

    def sample(self, at: float, cpu: float) -> float | None:
        if self.ready_at is not None:
            return self.ready_at
        if at < self.shell_started_at:
            return None
        if cpu < self.cpu_percent:
            if self.quiet_since is None:
                self.quiet_since = at
            elif at - self.quiet_since >= self.quiet_seconds:
                self.ready_at = self.quiet_since
        else:
            self.quiet_since = None
        return self.ready_at


class SigninSource:
    def __init__(
        self,
        env: Env,
        memory: Memory,
        user_hash_key: bytes,
        cpu_percent: float = 50.0,
        quiet_seconds: float = 2.0,
        max_wait: float = 600.0,
        observe: Callable[[Env, float], list[SigninObservation]] = platform.signin_observations,
    ) -> None:
        self._observe = observe
        self._env = env
        self._memory = memory
        self._key = user_hash_key
        self._cpu_percent = cpu_percent
        self._quiet = quiet_seconds
        self._max_wait = max_wait
        self._probes: dict[str, ResponsiveProbe] = {}
        self._pending: list[str] = []

    def confirm(self) -> None:
        """Remembers the sign-ins ``measure`` completed and the session ends it found,
        once they are in the spool."""
        for key in self._pending:
            self._memory.add(key)
        self._pending.clear()

    @property
    def awaiting_responsive(self) -> bool:
        return any(p.ready_at is None for p in self._probes.values())

    def sample_cpu(self, at: float, cpu: float) -> None:
        for probe in self._probes.values():
            probe.sample(at, cpu)

    def measure(self, boot_id: str, boot_time: float) -> list[SigninRecord | SigninEndRecord]:
        try:
            observations = self._observe(self._env, boot_time)
        except Exception as exc:  # a backend bug must not stop the agent loop
            self._env.problems.skip("signin", f"{type(exc).__name__}: {exc}")
            return []
        now = self._env.clock()
        out: list[SigninRecord | SigninEndRecord] = []
        for seen in observations:
            key = f"signin:{boot_id}:{seen.session_id}"
            end_key = f"signin_end:{boot_id}:{seen.session_id}"
            done = key in self._memory
            if done and (seen.ended_at is None or end_key in self._memory):
                continue
            if seen.end_only and not done:
                continue  # not known to be a sign-in, and not one this agent reported
            obs = judge_signin(seen, boot_time, now, self._env.problems)
            if obs is None:
                continue
            if not done:
                record = self._record(obs, boot_id, now, key)
                if record.state is SigninState.COMPLETE:
                    self._pending.append(key)
                    self._probes.pop(key, None)
                out.append(record)
            if seen.ended_at is not None and end_key not in self._memory:
                # An end judged implausible is remembered too: it stays unknown, once.
                self._pending.append(end_key)
                if obs.ended_at is not None and obs.end_reason is not None:
                    out.append(
                        SigninEndRecord(obs.session_id, boot_id, obs.ended_at, obs.end_reason)
                    )
        return out

    def _record(self, obs: SigninObservation, boot_id: str, now: float, key: str) -> SigninRecord:
        phases = list(obs.phases)
        shell = obs.shell_started_at
        # judge_signin has made unknown any shell start before the sign-in and any ready
        # mark before the shell, so these differences are never negative.
        if shell is not None:
            phases.insert(0, Phase(SIGNIN_CORE, shell - obs.started_at))
        ready = obs.desktop_ready_at
        if ready is None and shell is not None:
            ready = self._responsive(key, shell, now)
        if ready is not None and shell is not None:
            phases.insert(1, Phase(SIGNIN_RESPONSIVE, ready - shell))
        record = SigninRecord(
            session_id=obs.session_id,
            boot_id=boot_id,
            user_hash=user_hash(self._key, obs.user),
            started_at=obs.started_at,
            state=SigninState.IN_PROGRESS,
            elapsed_seconds=max(0.0, now - obs.started_at),
            phases=tuple(phases),
            first_login=obs.first_login,
            after_update=obs.after_update,
            contributors=obs.contributors,
        )
        if ready is not None:
            total = ready - obs.started_at
            return replace(
                record, state=SigninState.COMPLETE, total_seconds=total, elapsed_seconds=0.0
            )
        gave_up = shell is not None and key not in self._probes
        if obs.ended or gave_up:
            # The desktop's readiness can no longer be observed: total stays unknown.
            return replace(record, state=SigninState.COMPLETE, elapsed_seconds=0.0)
        return record

    def _responsive(self, key: str, shell: float, now: float) -> float | None:
        probe = self._probes.get(key)
        if probe is None:
            if now - shell > self._max_wait:
                return None  # the shell started before we could watch it
            probe = ResponsiveProbe(shell, self._cpu_percent, self._quiet)
            self._probes[key] = probe
        if probe.ready_at is None and now - shell > self._max_wait:
            del self._probes[key]
            return None
        return probe.ready_at
