"""A damaged spool end to end: ``fleetpulse-agent run`` against a real collector process.

Damage found when the agent starts, and damage that appears under a running agent (pages
overwritten while the collector is down): either way the readable records reach the
collector once each, the unreadable ones show on /metrics as
``fleetpulse_agent_dropped_records_total{kind="unreadable"}``, and the agent never stops
with a traceback.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from fleetpulse.contract.records import AppUsageRecord, Kind
from fleetpulse.contract.serde import record_to_bytes
from tests.agent.spool_damage import fill, garble, leaf_pages
from tests.e2e.test_pipeline import enroll
from tests.faults import free_port, stored_sqlite
from tests.procs import BIN, CollectorProc, scrape, start_collector, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

N = 1500


def _records() -> list[tuple[Kind, bytes]]:
    now = time.time()
    out = []
    for i in range(N):
        rec = AppUsageRecord(
            interval_start=now - 600 - i,
            interval_seconds=60.0,
            app=f"app{i % 11}.exe",
            launches=1,
            running_seconds=60.0,
            cpu_seconds=1.5,
        )
        out.append((rec.kind, record_to_bytes(rec, now)))
    return out


def _spooled(state: Path) -> int:
    with sqlite3.connect(f"file:{state / 'spool.db'}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _unreadable(collector: CollectorProc) -> float:
    return value(
        scrape(collector.metrics_url), "fleetpulse_agent_dropped_records_total", kind="unreadable"
    )


def _agent(state: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "a") as err:
        return subprocess.Popen(
            [str(BIN / "fleetpulse-agent"), "run", "--state-dir", str(state)],
            stderr=err,
            env=os.environ.copy(),
        )


def _check_delivered(db: str, device: str, original: set[int], lost: int) -> None:
    stored = [s for d, s in stored_sqlite(db)["app_usage"] if d == device]
    assert len(stored) == len(set(stored)), "a record stored twice"
    mine = set(stored) & original
    assert len(mine) == N - lost  # every readable record, once


def _setup(tmp_path: Path) -> tuple[str, int, Path, CollectorProc, str]:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    port = free_port()
    collector = start_collector(
        db, "--device-rate", "0", listen=f"127.0.0.1:{port}", log=tmp_path / "collector.log"
    )
    state = tmp_path / "agent"
    device = enroll(collector.grpc, db, state)["device_id"]
    (state / "config.toml").write_text("interval_seconds = 1\nboot_settle_seconds = 0\n")
    return db, port, state, collector, device


def _stop(agent: subprocess.Popen[bytes], log: Path) -> None:
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=30) == 0
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "damaged" in text and "unreadable" in text


def test_damage_found_at_start(tmp_path: Path) -> None:
    db, _, state, collector, device = _setup(tmp_path)
    log = tmp_path / "agent.log"
    original = set(fill(state / "spool.db", _records()))
    pages = leaf_pages(state / "spool.db")
    bad = [pages[3], pages[20]]
    lost = sum(n for _, n in bad)
    garble(state / "spool.db", [p for p, _ in bad])
    agent = _agent(state, log)
    try:
        assert _wait(lambda: _spooled(state) == 0 and _unreadable(collector) == lost, 60)
        _stop(agent, log)
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.stop()
    _check_delivered(db, device, original, lost)


def test_damage_under_a_running_agent(tmp_path: Path) -> None:
    db, port, state, collector, device = _setup(tmp_path)
    log = tmp_path / "agent.log"
    assert collector.stop() == 0  # down: the records wait in the spool
    original = set(fill(state / "spool.db", _records()))
    agent = _agent(state, log)
    try:
        time.sleep(2.0)  # it has opened the spool and failed to send at least once
        assert agent.poll() is None and _spooled(state) >= N
        path = state / "spool.db"
        other = sqlite3.connect(path, isolation_level=None, timeout=10)
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = leaf_pages(path)
        bad = [pages[5], pages[30]]
        garble(path, [p for p, _ in bad])
        lost = sum(n for _, n in bad)
        # a commit by another connection makes the agent's connection drop its cached pages
        other.execute("INSERT INTO counters (name, value) VALUES ('poke', 1)")
        other.close()
        assert _wait(lambda: "damaged" in log.read_text(), 30), log.read_text()
        assert agent.poll() is None  # still running
        collector = start_collector(
            db, "--device-rate", "0", listen=f"127.0.0.1:{port}", log=tmp_path / "collector.log"
        )
        assert _wait(lambda: _spooled(state) == 0 and _unreadable(collector) == lost, 90)
        _stop(agent, log)
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.stop()
    _check_delivered(db, device, original, lost)
