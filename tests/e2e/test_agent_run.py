"""``fleetpulse-agent run`` as a service process: reports every interval, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.test_pipeline import enroll, stored, wait_for
from tests.procs import BIN, start_collector


def test_run_reports_each_interval_and_stops_cleanly(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    collector = start_collector(db)
    state = tmp_path / "agent"
    try:
        enroll(collector.grpc, db, state)
        (state / "config.toml").write_text("interval_seconds = 1\nboot_settle_seconds = 0\n")
        with open(tmp_path / "agent.log", "w") as log:
            agent = subprocess.Popen(
                [str(BIN / "fleetpulse-agent"), "run", "--state-dir", str(state)],
                stderr=log,
                env=os.environ.copy(),
            )
        try:
            assert wait_for(lambda: stored(db, "boots") == 1, timeout=20)
            assert wait_for(lambda: stored(db, "device_health") == 1, timeout=20)
            time.sleep(2.5)  # a few more cycles: the boot is reported once, never again
            assert stored(db, "boots") == 1
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(timeout=30)
        assert code == 0
        assert "stopping" in (tmp_path / "agent.log").read_text()
    finally:
        collector.stop()
