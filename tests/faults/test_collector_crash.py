"""kill -9 of the collector, again and again, while a simulated fleet keeps sending.

Each time the collector is restarted on the same port and the same SQLite file. The
devices' senders (the agent's real Spool and Sender) retry after every failed call until
their spools are empty. Reports in flight at a kill were either not committed (the device
resends them) or committed without an ack reaching the device (it resends them and the
collector drops them as duplicates). At the end the store holds exactly what the fleet
generated: per table the same count as the fleet's truth, each (device_id, seq) once, and
per device the unbroken run of seqs its spool assigned.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from fleetpulse.sim.simulate import SimDevice, SimulatedFleet
from tests.faults import (
    check_exactly_once,
    connect,
    fast_channel,
    free_port,
    kill_between,
    merge,
    spooled,
    stored_sqlite,
)
from tests.procs import CollectorProc, cli, start_collector

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEVICES = 20
DAYS = 12
BATCH = 3
KILLS = 10
WORKERS = 4
ACKS_BETWEEN_KILLS = 12  # batches acknowledged after a restart before the next kill


def _start(db: str, port: int, log: Path) -> CollectorProc:
    for attempt in range(5):  # the port may take a moment to be free again after a kill
        try:
            return start_collector(db, "--device-rate", "0", listen=f"127.0.0.1:{port}", log=log)
        except RuntimeError:
            if attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def test_collector_killed_repeatedly_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    port = free_port()
    log = tmp_path / "collector.log"
    collector = _start(db, port, log)
    tokens = []
    for site in ("north", "south"):
        made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", db)
        assert made.returncode == 0, made.stderr
        tokens.append(made.stdout.strip())

    channel = fast_channel(collector.grpc)
    fleet = SimulatedFleet(collector.grpc, tokens, DEVICES, seed=7, batch_records=BATCH)
    lock = threading.Lock()
    acked_since_restart = 0
    failed_calls = 0
    accepted = duplicates = 0
    errors: list[BaseException] = []
    try:
        connect(fleet, collector.grpc, tokens, channel, BATCH, deadline=5.0)
        fleet.history(DAYS)
        fleet.live_step(time.time(), start_probability=0.5)  # some sign-ins in progress

        expected: dict[str, set[tuple[str, int]]] = {}
        for dev in fleet.devices:
            merge(expected, spooled(dev.device_id, dev.spool).items())
            seqs = [s for s, _ in dev.spool.peek(limit=10**6, max_bytes=10**12)]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # the spool's own run
        generated = sum(len(v) for v in expected.values())
        assert generated == fleet.truth.records == DEVICES * DAYS * 6 + len(expected["signin_live"])
        assert expected["health"] == set()

        def work(devices: list[SimDevice]) -> None:
            nonlocal acked_since_restart, failed_calls, accepted, duplicates
            try:
                while any(d.spool.stats().records for d in devices):
                    for dev in devices:
                        assert dev.sender is not None
                        res = dev.sender.send(dev.spool, dev.facts, max_batches=1)
                        with lock:
                            accepted += res.acked
                            duplicates += res.duplicates
                            if res.ok:
                                acked_since_restart += 1 if res.acked + res.duplicates else 0
                            else:
                                failed_calls += 1
                        if not res.ok:
                            time.sleep(0.05)  # the collector is down: retry shortly
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

        shares = [fleet.devices[i::WORKERS] for i in range(WORKERS)]
        threads = [threading.Thread(target=work, args=(s,)) for s in shares]
        for t in threads:
            t.start()

        rng = random.Random(3)

        def ready() -> bool:
            with lock:
                return acked_since_restart >= ACKS_BETWEEN_KILLS

        def kill() -> None:
            nonlocal collector, acked_since_restart
            time.sleep(rng.uniform(0, 0.02))  # land inside some report's commit or ack
            collector.stop("KILL")
            time.sleep(rng.uniform(0.05, 0.3))  # the fleet retries against nothing
            collector = _start(db, port, log)
            with lock:
                acked_since_restart = 0

        kills = kill_between(KILLS, threads, ready, kill)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads), "spools did not drain"
        assert kills == KILLS, f"the fleet drained after {kills} kill(s); make it bigger"
        assert failed_calls >= KILLS  # every kill was seen by some sender
        assert sum(d.spool.stats().records for d in fleet.devices) == 0
    finally:
        channel.close()
        fleet.close()
        code = collector.stop()
    assert code == 0

    stored = stored_sqlite(db)
    check_exactly_once(expected, stored)
    assert len(stored["boot"]) == fleet.truth.by_kind["boot"] == DEVICES * DAYS
    assert len(stored["signin"]) == len(fleet.truth.signins) == DEVICES * DAYS
    assert len(stored["app_usage"]) == fleet.truth.by_kind["app_usage"] == DEVICES * DAYS * 4
    assert sum(len(v) for v in stored.values()) == generated
    # Acks the senders saw: a batch committed just before a kill was never acknowledged,
    # so its resend came back as duplicates (and was not stored again).
    assert accepted <= generated <= accepted + duplicates, (accepted, duplicates, generated)
