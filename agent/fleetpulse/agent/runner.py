"""The agent loop: measure -> spool -> send, with graceful stop."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetpulse.agent.backoff import Backoff
from fleetpulse.agent.config import AgentConfig, Credentials
from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sender import Sender, SendResult
from fleetpulse.agent.sources.apps import AppSource
from fleetpulse.agent.sources.boot import BootSource
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.agent.sources.handover import FOLDER, Inbox
from fleetpulse.agent.sources.signin import SigninSource
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import HealthRecord, Record
from fleetpulse.contract.serde import record_to_bytes

log = logging.getLogger("fleetpulse.agent")

CPU_TICK = 0.5
FOREGROUND_TICK = 5.0
HEALTH_EVERY = 3600.0


@dataclass
class CycleResult:
    measured: list[Record] = field(default_factory=list)
    sent: SendResult | None = None


class Agent:
    def __init__(
        self,
        state_dir: Path,
        config: AgentConfig,
        creds: Credentials,
        env: Env | None = None,
        sender: Sender | None = None,
        app_source: AppSource | None = None,
    ) -> None:
        self.config = config
        self.creds = creds
        self.env = env or Env(state_dir=str(state_dir))
        self.spool = Spool(
            str(state_dir / "spool.db"), config.spool_max_bytes, config.spool_max_age_seconds
        )
        memory = Memory(state_dir / "memory.json")
        self.boot = BootSource(self.env, memory, config.boot_settle_seconds)
        self.signin = SigninSource(
            self.env,
            memory,
            bytes.fromhex(creds.user_hash_key),
            config.responsive_cpu_percent,
            config.responsive_quiet_seconds,
            config.responsive_max_wait_seconds,
        )
        # Windows: the service sees no desktop; the per-user helper hands foreground in
        inbox = Inbox(state_dir / FOLDER) if sys.platform == "win32" else None
        self.apps = app_source or AppSource(self.env, top_n=config.app_top_n, inbox=inbox)
        self.sender = sender or Sender(
            creds.collector,
            creds.device_id,
            creds.device_secret,
            creds.ca_cert,
            creds.insecure,
            config.deadline_seconds,
            config.batch_records,
            client_cert=creds.client_cert,
            client_key=creds.client_key,
        )
        self.facts = device_facts(self.env)
        self.backoff = Backoff()
        self.interval = config.report_interval_seconds
        self.clock_skew: float | None = None
        self._last_health: tuple[object, ...] | None = None
        self._last_health_at = 0.0

    def measure(self) -> list[Record]:
        records: list[Record] = []
        records += self.boot.measure()
        boot = self.boot.current
        if boot is not None:
            records += self.signin.measure(boot.boot_id, boot.boot_time)
        records += self.apps.flush()
        health = self._health()
        if health is not None:
            records.append(health)
        return records

    def _health(self) -> HealthRecord | None:
        stats = self.spool.stats()
        skew = None if self.clock_skew is None else round(self.clock_skew, 1)
        health = HealthRecord(
            dropped=stats.dropped,
            parse_errors=self.env.problems.total,
            spool_bytes=stats.bytes,
            clock_skew_seconds=skew,
            rejected=stats.rejected,
        )
        state = (tuple(sorted(stats.dropped.items())), health.parse_errors, skew, stats.rejected)
        now = self.env.clock()
        if state == self._last_health and now - self._last_health_at < HEALTH_EVERY:
            return None
        self._last_health, self._last_health_at = state, now
        return health

    def spool_records(self, records: list[Record]) -> None:
        now = self.env.clock()
        self.spool.put((r.kind, record_to_bytes(r, now)) for r in records)
        self.boot.confirm()  # only now that they are committed
        self.signin.confirm()

    def send(self) -> SendResult:
        result = self.sender.send(self.spool, self.facts)
        if result.server_time is not None:
            self.clock_skew = self.env.clock() - result.server_time
        wanted = result.settings.report_interval_seconds if result.settings else 0
        if wanted and float(wanted) != self.interval:
            log.info("report interval %gs -> %ds (from the collector)", self.interval, wanted)
            self.interval = float(wanted)
        if result.ok:
            self.backoff.reset()
        return result

    def cycle(self) -> CycleResult:
        records = self.measure()
        self.spool_records(records)
        return CycleResult(records, self.send())

    def run(self, stop: threading.Event) -> None:
        """Cycles until ``stop`` is set; between cycles samples CPU and the foreground app."""
        next_measure = time.monotonic()
        next_send = next_measure
        next_foreground = next_measure
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_measure:
                    self.spool_records(self.measure())
                    next_measure = now + self.interval
                    if self.backoff.failures == 0:
                        next_send = now  # fresh records go out at once unless backing off
                if now >= next_send:
                    result = self.send()
                    if result.ok:
                        next_send = next_measure
                    else:
                        delay = self.backoff.next_delay(result.retry_after)
                        log.warning(
                            "report failed (%s); %d record(s) kept, retry in %.0fs",
                            result.error,
                            result.remaining,
                            delay,
                        )
                        next_send = now + delay
            except (sqlite3.Error, OSError) as exc:
                # Damage is salvaged inside the spool; this is what it could not get past
                # (a full disk, a file it may not write): keep running and try again.
                delay = self.backoff.next_delay()
                log.error("spool %s unusable (%s); retry in %.0fs", self.spool.path, exc, delay)
                next_measure = next_send = now + delay
            if now >= next_foreground:
                self.apps.sample_foreground(FOREGROUND_TICK)
                next_foreground = now + FOREGROUND_TICK
            tick = CPU_TICK if self.signin.awaiting_responsive else FOREGROUND_TICK
            wait = max(0.0, min(next_measure, next_send, next_foreground, now + tick) - now)
            if stop.wait(wait):
                break
            if self.signin.awaiting_responsive:
                cpu = float(self.env.ps.cpu_percent(interval=None))
                self.signin.sample_cpu(self.env.clock(), cpu)
        try:
            log.info("stopping: %d record(s) stay spooled", self.spool.stats().records)
        except (sqlite3.Error, OSError) as exc:
            log.error("stopping: spool %s unreadable (%s)", self.spool.path, exc)

    def close(self) -> None:
        self.sender.close()
        self.spool.close()
