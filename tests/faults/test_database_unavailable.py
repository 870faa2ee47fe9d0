"""The collector's database becomes unavailable while devices report.

PostgreSQL: an operator's transaction holds ACCESS EXCLUSIVE locks on every record table
for a few seconds, and the collector's connections run with ``lock_timeout`` (set through
the libpq options of its --db URL), so its commits really fail instead of waiting. Every
report in that time must get UNAVAILABLE with a ``retry-after-ms`` hint, no record may be
acknowledged that is not stored (checked from inside the locking transaction, which can
read the tables it locked), and once the lock is gone everything is delivered, each record
once.

SQLite: the collector process may not grow any file past a size limit (RLIMIT_FSIZE, with
SIGXFSZ ignored, so a write past it fails as on a full disk); once its database is full
every report gets UNAVAILABLE; the limit is then lifted (prlimit on the running process and
its ingest worker, as freeing disk space would) and everything is delivered once.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg
import pytest

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.sim.simulate import SimDevice, SimulatedFleet
from tests.faults import (
    TABLES,
    check_exactly_once,
    fast_channel,
    merge,
    spooled,
    stored_pg,
    stored_sqlite,
)
from tests.procs import CollectorProc, cli, start_collector

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

DEVICES = 8
DAYS = 12
BATCH = 4
RECORD_TABLES = ("boots", "signins", "app_usage", "signins_in_progress", "device_health")


class Fleet:
    """A simulated fleet whose devices send one batch at a time from worker threads,
    keeping a log of every call's outcome and of every acknowledged seq."""

    def __init__(self, target: str, db: str, seed: int) -> None:
        tokens = []
        made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db)
        assert made.returncode == 0, made.stderr
        tokens.append(made.stdout.strip())
        self.channel = fast_channel(target)
        self.sim = SimulatedFleet(target, tokens, DEVICES, seed=seed, batch_records=BATCH)
        for dev in self.sim.devices:
            got = enroll(target, tokens[0], dev.facts)
            dev.device_id, dev.site, dev.key = got.device_id, got.site, got.user_hash_key
            dev.sender = Sender(
                target,
                dev.device_id,
                got.device_secret,
                batch_records=BATCH,
                deadline=10.0,
                channel=self.channel,
            )
        self.sim.history(DAYS)
        self.expected: dict[str, set[tuple[str, int]]] = {}
        for dev in self.sim.devices:
            merge(self.expected, spooled(dev.device_id, dev.spool).items())
        self.lock = threading.Lock()
        self.acked: set[tuple[str, int]] = set()
        self.errors: list[tuple[str, float | None]] = []  # (error, retry_after) per failure
        self.oks = 0
        self.failures: list[BaseException] = []
        self.paused = threading.Event()

    def _work(self, devices: list[SimDevice]) -> None:
        try:
            while any(d.spool.stats().records for d in devices):
                for dev in devices:
                    assert dev.sender is not None
                    if not dev.spool.stats().records:
                        continue
                    batch = [(dev.device_id, s) for s, _ in dev.spool.peek(limit=BATCH)]
                    res = dev.sender.send(dev.spool, dev.facts, max_batches=1)
                    with self.lock:
                        if res.ok:
                            self.acked.update(batch)
                            self.oks += 1
                        else:
                            assert res.error is not None
                            self.errors.append((res.error, res.retry_after))
                    if not res.ok:  # honour the hint, shortened to keep the test short
                        time.sleep(min(res.retry_after or 0.1, 0.1))
                    else:
                        time.sleep(0.01)
        except BaseException as exc:
            self.failures.append(exc)

    def run(self, workers: int = 4) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._work, args=(self.sim.devices[i::workers],))
            for i in range(workers)
        ]
        for t in threads:
            t.start()
        return threads

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.channel.close()
        self.sim.close()


def test_postgres_locked_tables_get_unavailable_and_lose_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    app = f"fpfault-{uuid.uuid4().hex[:8]}"
    # The collector's sessions give up on a lock after 300 ms instead of waiting forever.
    url = f"{pg_url}%20-clock_timeout%3D300&application_name={app}"
    collector = start_collector(
        url, "--device-rate", "0", "--refresh-seconds", "0.5", log=tmp_path / "collector.log"
    )
    fleet = Fleet(collector.grpc, url, seed=21)
    threads: list[threading.Thread] = []
    try:
        generated = sum(len(v) for v in fleet.expected.values())
        threads = fleet.run()
        assert fleet.wait_for(lambda: fleet.oks >= 10, 30)

        with psycopg.connect(pg_url) as admin:  # one transaction until the with-block ends
            admin.execute(f"LOCK TABLE {', '.join(RECORD_TABLES)} IN ACCESS EXCLUSIVE MODE")
            with fleet.lock:
                fleet.errors.clear()
                oks_at_lock = fleet.oks
            assert fleet.wait_for(lambda: len(fleet.errors) >= 20, 30)
            time.sleep(0.5)
            with fleet.lock:
                acked_now = set(fleet.acked)
                oks_during = fleet.oks - oks_at_lock
                during = list(fleet.errors)
            stored_now = stored_pg(admin)  # the lock holder reads what is committed
            flat = {p for pairs in stored_now.values() for p in pairs}
            assert acked_now <= flat, f"{len(acked_now - flat)} acknowledged, not stored"
            admin.rollback()
        # At most the reports already committing when the lock came got through.
        assert oks_during <= 4, oks_during
        assert during and all(e.startswith("UNAVAILABLE") for e, _ in during), during[:3]
        assert all(hint is not None and hint > 0 for _, hint in during)

        for t in threads:
            t.join(timeout=60)
        assert not fleet.failures, fleet.failures
        assert not any(t.is_alive() for t in threads), "spools did not drain"
        with psycopg.connect(pg_url) as conn:
            stored = stored_pg(conn)
        check_exactly_once({k: v for k, v in fleet.expected.items() if k in TABLES}, stored)
        assert sum(len(v) for v in stored.values()) == generated
        assert fleet.acked == {p for v in fleet.expected.values() for p in v}
    finally:
        for t in threads:
            t.join(timeout=5)
        fleet.close()
        code = collector.stop()
    assert code == 0


def _limited(limit: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return setup


def test_sqlite_full_disk_gets_unavailable_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    db = f"sqlite:///{path}"
    first = start_collector(db)  # create and migrate the database without a limit
    fleet = Fleet(first.grpc, db, seed=22)
    threads: list[threading.Thread] = []
    first.stop()
    del first
    collector: CollectorProc | None = None
    try:
        generated = sum(len(v) for v in fleet.expected.values())
        sizes = sum(p.stat().st_size for p in tmp_path.glob("collector.db*"))
        # Room for a few reports, not for the fleet's history.
        limit = max(os.path.getsize(path), 64 * 1024) + 48 * 1024
        collector = _start_limited(db, fleet, limit, tmp_path)
        threads = fleet.run()
        assert fleet.wait_for(lambda: len(fleet.errors) >= 10, 60), "the disk never filled"
        with fleet.lock:
            first_error = fleet.errors[0]
            acked_full = set(fleet.acked)
        assert first_error[0].startswith("UNAVAILABLE"), first_error
        assert first_error[1] is not None and first_error[1] > 0
        assert sizes < limit
        stored_full = {p for pairs in stored_sqlite(db).values() for p in pairs}
        assert acked_full <= stored_full, f"{len(acked_full - stored_full)} acked, not stored"
        assert len(stored_full) < generated

        serving = psutil.Process(collector.proc.pid)
        for proc in (serving, *serving.children(recursive=True)):  # space is freed, for all
            proc.rlimit(psutil.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for t in threads:
            t.join(timeout=60)
        assert not fleet.failures, fleet.failures
        assert not any(t.is_alive() for t in threads), "spools did not drain after recovery"
        with fleet.lock:
            assert all(e.startswith("UNAVAILABLE") for e, _ in fleet.errors), [
                e for e in fleet.errors if not e[0].startswith("UNAVAILABLE")
            ][:3]
        stored = stored_sqlite(db)
        check_exactly_once({k: v for k, v in fleet.expected.items() if k in TABLES}, stored)
        assert sum(len(v) for v in stored.values()) == generated
    finally:
        for t in threads:
            t.join(timeout=5)
        fleet.close()
        if collector is not None:
            assert collector.stop() == 0


def _start_limited(db: str, fleet: Fleet, limit: int, tmp: Path) -> CollectorProc:
    """start_collector with the file-size limit applied to the collector process only."""
    import subprocess

    from tests.procs import BIN

    target = fleet.sim.target
    proc = subprocess.Popen(
        [
            str(BIN / "fleetpulse-collector"),
            "serve",
            "--db",
            db,
            "--listen",
            target,
            "--metrics-listen",
            "127.0.0.1:0",
            "--device-rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_limited(limit),
    )
    assert proc.stdout is not None
    grpc_addr = metrics = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (grpc_addr and metrics):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"collector exited early with {proc.wait(timeout=10)}")
        if line.startswith("gRPC"):
            grpc_addr = line.split()[1]
        if line.startswith("metrics"):
            metrics = line.split()[1]
    return CollectorProc(proc, db, grpc_addr, metrics)
