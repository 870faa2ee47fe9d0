"""kill -9 of the collector's ingest worker process, again and again, while a fleet sends,
on SQLite and on PostgreSQL (where a group's statements are in one pipeline when it dies).

The serving process stays up: the reports whose group was with the worker get UNAVAILABLE
with a ``retry-after-ms`` hint (their transaction committed or not: nothing was acked), a
new worker is started, and the senders' resends are stored or counted duplicate. At the end
the store holds exactly what the fleet generated, each (device_id, seq) once, and the
serving process stops cleanly.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from fleetpulse.sim.simulate import SimDevice, SimulatedFleet
from tests.faults import (
    check_exactly_once,
    connect,
    fast_channel,
    kill_between,
    merge,
    spooled,
    stored_in,
)
from tests.procs import cli, start_collector

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEVICES = 12
DAYS = 10
BATCH = 3
KILLS = 5
WORKERS = 4
ACKS_BETWEEN_KILLS = 10


def _worker_pid(serving: int, not_this: int | None = None, timeout: float = 20.0) -> int:
    """The pid of the serving process's ingest worker (a multiprocessing spawn child),
    waiting for one other than ``not_this``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for child in psutil.Process(serving).children():
            try:
                spawned = "spawn_main" in " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if spawned and child.pid != not_this and child.status() != psutil.STATUS_ZOMBIE:
                return int(child.pid)
        time.sleep(0.02)
    raise AssertionError(f"no ingest worker under pid {serving} (other than {not_this})")


def test_worker_killed_repeatedly_answers_unavailable_and_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    # PostgreSQL too: there a group's statements run in one pipeline when the worker dies
    db = db_url
    collector = start_collector(db, "--device-rate", "0", log=tmp_path / "collector.log")
    made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db)
    assert made.returncode == 0, made.stderr
    channel = fast_channel(collector.grpc)
    fleet = SimulatedFleet(
        collector.grpc, [made.stdout.strip()], DEVICES, seed=11, batch_records=BATCH
    )
    lock = threading.Lock()
    acked_since_kill = 0
    accepted = duplicates = 0
    failures: list[tuple[str, float | None]] = []
    errors: list[BaseException] = []
    try:
        connect(fleet, collector.grpc, [made.stdout.strip()], channel, BATCH, deadline=10.0)
        fleet.history(DAYS)
        expected: dict[str, set[tuple[str, int]]] = {}
        for dev in fleet.devices:
            merge(expected, spooled(dev.device_id, dev.spool).items())
        generated = sum(len(v) for v in expected.values())

        def work(devices: list[SimDevice]) -> None:
            nonlocal acked_since_kill, accepted, duplicates
            try:
                while any(d.spool.stats().records for d in devices):
                    for dev in devices:
                        assert dev.sender is not None
                        res = dev.sender.send(dev.spool, dev.facts, max_batches=1)
                        with lock:
                            accepted += res.acked
                            duplicates += res.duplicates
                            if res.ok:
                                acked_since_kill += 1
                            else:
                                failures.append((str(res.error), res.retry_after))
                        if not res.ok:
                            time.sleep(0.05)  # the hint, shortened to keep the test short
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(fleet.devices[i::WORKERS],)) for i in range(WORKERS)
        ]
        for t in threads:
            t.start()
        pid = _worker_pid(collector.proc.pid)

        def ready() -> bool:
            with lock:
                return acked_since_kill >= ACKS_BETWEEN_KILLS

        def kill() -> None:
            nonlocal pid, acked_since_kill
            os.kill(pid, signal.SIGKILL)
            pid = _worker_pid(collector.proc.pid, not_this=pid)
            with lock:
                acked_since_kill = 0

        kills = kill_between(KILLS, threads, ready, kill)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads), "spools did not drain"
        assert kills == KILLS, f"the fleet drained after {kills} kill(s); make it bigger"
        assert collector.proc.poll() is None, "the serving process died with its worker"
    finally:
        channel.close()
        fleet.close()
        code = collector.stop()
    assert code == 0
    assert failures, "no report was with the worker at any kill"
    assert all(e.startswith("UNAVAILABLE") for e, _ in failures), failures[:3]
    assert all(hint is not None and hint > 0 for _, hint in failures), failures[:3]
    stored = stored_in(db)
    check_exactly_once(expected, stored)
    assert sum(len(v) for v in stored.values()) == generated
    assert accepted <= generated <= accepted + duplicates, (accepted, duplicates, generated)
