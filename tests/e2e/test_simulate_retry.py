"""``fleetpulse-agent simulate`` against a collector killed (-9) and restarted on the same
port mid-send: it retries like the agent and every record is stored exactly once."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults import free_port, stored_sqlite
from tests.procs import BIN, CollectorProc, cli, scrape, start_collector, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

DEVICES = 200
DAYS = 30  # 200 devices x 30 days x 6 records = 36,000 records, as in the report


def _start(db: str, port: int, log: Path) -> CollectorProc:
    for attempt in range(10):  # the port may take a moment to be free again after a kill
        try:
            return start_collector(db, listen=f"127.0.0.1:{port}", log=log)
        except RuntimeError:
            if attempt == 9:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


def _ingested(collector: CollectorProc) -> float:
    return value(scrape(collector.metrics_url), "fleetpulse_ingest_records_total")


def test_simulate_survives_a_collector_restart(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    port = free_port()
    log = tmp_path / "collector.log"
    collector = _start(db, port, log)
    made = cli("fleetpulse-collector", "token", "create", "--site", "north", "--db", db)
    assert made.returncode == 0, made.stderr
    sim = subprocess.Popen(
        [
            str(BIN / "fleetpulse-agent"),
            "simulate",
            "--collector",
            collector.grpc,
            "--token",
            made.stdout.strip(),
            "--devices",
            str(DEVICES),
            "--days",
            str(DAYS),
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _ingested(collector) == 0:  # enrolled, and the first reports are in
            assert time.monotonic() < deadline and sim.poll() is None
            time.sleep(0.005)
        collector.stop("KILL")
        before = sum(len(stored_sqlite(db)[t]) for t in ("boot", "signin", "app_usage"))
        assert 0 < before < DEVICES * DAYS * 6, before  # killed in the middle of the send
        time.sleep(1.0)  # down long enough for several failed sends
        collector = _start(db, port, log)
        out, err = sim.communicate(timeout=200)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=10)
        collector.stop()
    assert sim.returncode == 0, err
    assert "Traceback" not in err
    truth = json.loads(out)
    assert truth["records"] == DEVICES * DAYS * 6
    assert truth["unsent"] == 0 and truth["acked"] == truth["records"]
    stored = stored_sqlite(db)
    for kind in ("boot", "signin", "app_usage"):
        pairs = stored[kind]
        assert len(pairs) == len(set(pairs)) == truth["by_kind"][kind], kind  # each once
