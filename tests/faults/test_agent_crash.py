"""kill -9 of ``fleetpulse-agent run``, again and again, while it drains its spool.

The agent process (interval 1 s, small batches) is killed at random moments once it is
sending: between a batch's commit at the collector and the ack in its spool, inside the
spool's delete or insert transactions, while it spools its own boot and health records.
Between restarts more records wait in its spool.db (as if measured while it was down).
Then the same with the collector down: an agent killed while it cannot deliver, the
collector back, the agent restarted.

Counting: a spool's seqs are AUTOINCREMENT numbers that a rolled-back insert does not
consume, so every record ever committed to the spool has a seq in one unbroken range,
first..last (``sqlite_sequence``). At the end the spool is empty and each of those seqs
is in the store exactly once: boots, sign-ins and app usage as rows, the agent's health
records as accepted health records (each device keeps only its latest, the rest are
counted by fleetpulse_ingest_records_total). The agent's own boot is stored once.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import AppUsageRecord, BootRecord, SigninRecord, SigninState
from fleetpulse.contract.serde import record_to_bytes
from tests.e2e.test_pipeline import enroll
from tests.faults import free_port, stored_sqlite
from tests.procs import BIN, CollectorProc, scrape, start_collector, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KILLS = 12
PER_ROUND = 240  # records waiting in the spool at each restart
BATCH = 8


def _spooled(state: Path) -> int:
    """Records in the agent's spool, read without disturbing it."""
    with sqlite3.connect(f"file:{state / 'spool.db'}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])


def _last_seq(state: Path) -> int:
    with sqlite3.connect(f"file:{state / 'spool.db'}?mode=ro", uri=True, timeout=10) as conn:
        return int(
            conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()[0]
        )


class Generator:
    """Records as the agent would have measured them while it was not running."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.n = 0
        self.seqs: dict[str, list[int]] = {"app_usage": [], "signin": [], "boot": []}

    def add(self, count: int) -> None:
        now = time.time()
        items = []
        for _ in range(count):
            self.n += 1
            i = self.n
            if i % 10 == 0:
                rec: BootRecord | SigninRecord | AppUsageRecord = SigninRecord(
                    session_id=f"s{i}",
                    boot_id="older-boot",
                    user_hash="u" * 16,
                    started_at=now - 3600,
                    state=SigninState.COMPLETE,
                    total_seconds=30.5,
                )
            elif i % 97 == 0:
                rec = BootRecord(
                    boot_id=f"older-boot-{i}", boot_time=now - 7200, total_seconds=40.0
                )
            else:
                rec = AppUsageRecord(
                    interval_start=now - 60,
                    interval_seconds=60.0,
                    app=f"app{i % 7}.exe",
                    launches=1,
                    running_seconds=60.0,
                    cpu_seconds=1.5,
                )
            items.append((rec, record_to_bytes(rec, now)))
        spool = Spool(str(self.state / "spool.db"))
        try:
            seqs = spool.put((r.kind, payload) for r, payload in items)
        finally:
            spool.close()
        for (rec, _), seq in zip(items, seqs, strict=True):
            self.seqs[rec.kind.value].append(seq)


def _start_agent(state: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "a") as err:
        return subprocess.Popen(
            [str(BIN / "fleetpulse-agent"), "run", "--state-dir", str(state)],
            stderr=err,
            env=os.environ.copy(),
        )


def _kill(agent: subprocess.Popen[bytes]) -> None:
    agent.send_signal(signal.SIGKILL)
    assert agent.wait(timeout=10) == -signal.SIGKILL


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return bool(predicate())


def _health_accepted(collector: CollectorProc) -> int:
    return int(
        value(
            scrape(collector.metrics_url),
            "fleetpulse_ingest_records_total",
            kind="health",
            result="accepted",
        )
    )


def test_agent_killed_repeatedly_delivers_everything_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    port = free_port()
    listen = f"127.0.0.1:{port}"
    clog, alog = tmp_path / "collector.log", tmp_path / "agent.log"
    collector = start_collector(db, "--device-rate", "0", listen=listen, log=clog)
    state = tmp_path / "agent"
    health = 0
    agent: subprocess.Popen[bytes] | None = None
    try:
        creds = enroll(collector.grpc, db, state)
        device = creds["device_id"]
        (state / "config.toml").write_text(
            f"interval_seconds = 1\nboot_settle_seconds = 0\nbatch_records = {BATCH}\n"
        )
        gen = Generator(state)
        gen.add(1)
        first = gen.seqs["app_usage"][0]

        # The first run spools this boot's record; from then on it is in the agent's memory
        # (see the report: a kill between remembering it and spooling it loses it).
        agent = _start_agent(state, alog)
        assert _wait(lambda: _spooled(state) == 0 and len(stored_sqlite(db)["boot"]) == 1, 30)
        _kill(agent)

        rng = random.Random(5)
        kills = 0
        for _ in range(KILLS):
            gen.add(PER_ROUND)
            waiting = _spooled(state)
            agent = _start_agent(state, alog)
            # Kill it somewhere in its drain: after it has acknowledged a few batches.
            assert _wait(lambda w=waiting: _spooled(state) <= w - BATCH, 30)
            time.sleep(rng.uniform(0, 0.03))
            _kill(agent)
            kills += 1
        assert kills == KILLS

        # Collector down: the agent spools, cannot send, is killed.
        health += _health_accepted(collector)
        assert collector.stop() == 0
        gen.add(PER_ROUND)
        agent = _start_agent(state, alog)
        time.sleep(2.5)  # a few cycles of failing sends and their backoff
        assert _spooled(state) >= PER_ROUND  # nothing left while nothing could be delivered
        _kill(agent)

        collector = start_collector(db, "--device-rate", "0", listen=listen, log=clog)
        agent = _start_agent(state, alog)
        assert _wait(lambda: _spooled(state) == 0, 60), "the spool did not drain"
        time.sleep(1.5)  # one more cycle: a health record may follow
        assert _wait(lambda: _spooled(state) == 0, 10)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        agent = None
        assert _spooled(state) == 0
        health += _health_accepted(collector)
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(timeout=10)
        collector.stop()

    last = _last_seq(state)
    committed = set(range(first, last + 1))  # every seq the spool ever committed
    stored = stored_sqlite(db)
    rows = {t: [s for d, s in stored[t] if d == device] for t in ("boot", "signin", "app_usage")}
    flat = [s for seqs in rows.values() for s in seqs]
    assert len(flat) == len(set(flat)), "a seq stored twice"
    assert set(flat) <= committed, "a stored seq the spool never assigned"
    # Exactly what was generated, each once ...
    assert sorted(rows["app_usage"]) == sorted(gen.seqs["app_usage"])
    assert sorted(rows["signin"]) == sorted(gen.seqs["signin"])
    mine = set(gen.seqs["boot"])
    assert sorted(s for s in rows["boot"] if s in mine) == sorted(mine)
    # ... plus the agent's own boot, once (memory and the natural key), ...
    own_boots = [s for s in rows["boot"] if s not in mine]
    assert len(own_boots) == 1
    # ... and every other committed seq is a health record, each accepted once.
    assert health >= KILLS // 2  # each run that got as far as measuring spooled one
    assert len(committed) == len(flat) + health, (len(committed), len(flat), health)
    total = sum(len(v) for v in gen.seqs.values())
    assert total == 1 + (KILLS + 1) * PER_ROUND
