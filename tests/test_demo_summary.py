"""The demo's live summary says what the report says: the same SLA sign-ins (first-login
and after-update ones out), and no "longest" when nothing is in progress."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fleetpulse.collector.auth import digest
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState
from fleetpulse.sim.demo import summary
from tests.procs import cli

NOW = time.time()


def _signin(n: int, total: float, first_login: bool) -> SigninRecord:
    return SigninRecord(
        f"s{n}", f"b{n}", "h", NOW - 3600 * (n + 1), SigninState.COMPLETE, total, 0.0, (),
        first_login, False,
    )  # fmt: skip


def test_the_summary_counts_the_sign_ins_the_report_counts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    collector = Collector(ServerConfig(db=db, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"))

    async def run() -> str:
        await collector.start()
        try:
            s = collector.store
            s.create_token("t", digest("fpt_d"), "north", NOW - 86400, None, None)
            s.enroll(digest("fpt_d"), "d1", digest("x"), "pc-1", "windows", "11", "0.1.0",
                     "hw", "mid", NOW - 86400)  # fmt: skip
            # two SLA sign-ins within 120 s; a first login of 33 min is out of the SLA
            records = [_signin(0, 30.0, False), _signin(1, 90.0, False), _signin(2, 2000.0, True)]
            facts = DeviceFacts("pc-1", "windows", "11", "0.1.0")
            s.ingest([Report("d1", facts, [Incoming(i + 1, NOW, r) for i, r in enumerate(records)],
                             NOW)], NOW)  # fmt: skip
            await collector.refresh()
            return summary(collector, NOW)
        finally:
            await collector.stop(grace=1.0)

    text = asyncio.run(run())
    made = cli("fleetpulse-collector", "report", "--db", db, "--format", "json")
    fleet = json.loads(made.stdout)["fleet"]
    assert (fleet["known_duration"], fleet["share_within_slo"], fleet["long"]) == (2, 1.0, 0)
    assert "sign-ins (28d): 2 " in text
    assert "within 120s 100.0%" in text and "≥30 min: 0" in text
    assert "in progress now: 0\n" in text  # no "(longest 0s)"
