"""Central settings: a change on the collector reaches a running agent within one report
interval, and its next reports follow the new interval."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from itertools import pairwise
from pathlib import Path

from tests.e2e.test_pipeline import enroll, stored, wait_for
from tests.procs import BIN, cli, start_collector


def last_seen(db: str) -> float | None:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        row = conn.execute("SELECT last_seen FROM devices").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def report_times(db: str, seconds: float) -> list[float]:
    """When the device's reports arrived, watched for ``seconds``."""
    seen: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = last_seen(db)
        if t is not None and (not seen or t != seen[-1]):
            seen.append(t)
        time.sleep(0.05)
    return seen


def test_settings_change_reaches_a_running_agent(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    collector = start_collector(db, "--refresh-seconds", "0.2")
    state = tmp_path / "agent"
    log = tmp_path / "agent.log"
    try:
        enroll(collector.grpc, db, state)
        (state / "config.toml").write_text("interval_seconds = 1\nboot_settle_seconds = 0\n")
        with open(log, "w") as err:
            agent = subprocess.Popen(
                [str(BIN / "fleetpulse-agent"), "run", "--state-dir", str(state)],
                stderr=err,
                env=os.environ.copy(),
            )
        try:
            assert wait_for(lambda: stored(db, "boots") == 1, timeout=20)
            before = report_times(db, 3.5)
            gaps = [b - a for a, b in pairwise(before)]
            assert gaps and all(0.5 < g < 1.6 for g in gaps), gaps  # its own 1 s interval

            done = cli(
                "fleetpulse-collector",
                "settings",
                "set",
                "--site",
                "hq",
                "report_interval_seconds=3",
                "--db",
                db,
            )
            assert done.returncode == 0, done.stderr
            changed = time.monotonic()
            assert wait_for(lambda: "report interval 1s -> 3s" in log.read_text(), timeout=5)
            assert time.monotonic() - changed < 1.0 + 0.2 + 1.5  # one interval + refresh
            after = report_times(db, 7.5)[1:]
            gaps = [b - a for a, b in pairwise(after)]
            assert len(gaps) >= 1 and all(2.5 < g < 3.6 for g in gaps), gaps
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
        shown = cli("fleetpulse-collector", "settings", "show", "--db", db).stdout
        assert "report_interval_seconds" in shown and "hq" in shown
        bad = cli(
            "fleetpulse-collector",
            "settings",
            "set",
            "--site",
            "hq",
            "report_interval_seconds=0",
            "--db",
            db,
        )
        assert bad.returncode == 1 and "must be 1..86400" in bad.stderr
    finally:
        collector.stop()
