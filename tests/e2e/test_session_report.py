"""Session ends end to end: ``fleetpulse-agent simulate --session-ends`` against a real
collector process, then ``fleetpulse-collector report``: each device's session time and
verdict are checked against what the simulator generated (decoded from its spools, not read
from the store)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from fleetpulse.contract.records import SigninEndRecord, SigninRecord
from fleetpulse.contract.serde import record_from_proto
from fleetpulse.sim.simulate import SimulatedFleet
from fleetpulse.v1 import telemetry_pb2 as pb
from tests.procs import CollectorProc, cli, start_collector

SEED, DEVICES, DAYS = 5, 24, 14
DAY = 86400.0
WEEK = 7 * DAY
LINE = 15 * 60.0  # seconds of sessions per week


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    yield c
    assert c.stop() == 0


def generated(now: float) -> dict[str, tuple[list[float], dict[str, float]]]:
    """hostname -> (sign-in starts, {session: length}) as ``simulate`` made them today."""
    fleet = SimulatedFleet("127.0.0.1:1", ["unused"], DEVICES, SEED, session_ends=True)
    try:
        fleet.history(DAYS, now)
        out: dict[str, tuple[list[float], dict[str, float]]] = {}
        for dev in fleet.devices:
            starts: dict[str, float] = {}
            lengths: dict[str, float] = {}
            for _, payload in dev.spool.peek(limit=10**6, max_bytes=10**12):
                r = record_from_proto(pb.Record.FromString(payload))
                if isinstance(r, SigninRecord):
                    starts[r.session_id] = r.started_at
                elif isinstance(r, SigninEndRecord):
                    lengths[r.session_id] = r.ended_at - starts[r.session_id]
            out[dev.hostname] = (sorted(starts.values()), lengths)
        return out
    finally:
        fleet.close()


def test_simulated_session_ends_reach_the_report(collector: CollectorProc, tmp_path: Path) -> None:
    made = cli("fleetpulse-collector", "token", "create", "--site", "north", "--db", collector.db)
    assert made.returncode == 0, made.stderr
    if DAY - time.time() % DAY < 120:  # the simulator's days are UTC days: not across midnight
        time.sleep(DAY - time.time() % DAY + 1)
    before = time.time()
    run = cli(
        "fleetpulse-agent", "simulate", "--collector", collector.grpc, "--token",
        made.stdout.strip(), "--devices", str(DEVICES), "--days", str(DAYS), "--seed", str(SEED),
        "--session-ends",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["unsent"] == 0
    truth = generated(before)
    out = tmp_path / "report.json"
    done = cli(
        "fleetpulse-collector", "report", "--db", collector.db, "--format", "json",
        "--since", f"{DAYS + 1}d", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    until = datetime.fromisoformat(data["period"]["until"].replace("Z", "+00:00")).timestamp()
    got = {d["hostname"]: d for d in data["sessions"]["devices"]}
    assert sorted(got) == sorted(truth)
    verdicts = set()
    for host, (starts, lengths) in truth.items():
        d = got[host]
        weeks = (until - starts[0]) / WEEK  # enrolled after its first simulated sign-in
        known = sum(lengths.values())
        per_week = known / weeks
        if per_week >= LINE:
            verdict = "used"
        else:
            verdict = "barely_used" if len(lengths) == len(starts) else "unknown"
        assert (d["signins"], d["sessions_with_known_length"]) == (len(starts), len(lengths))
        assert d["session_seconds_known"] == pytest.approx(known, abs=0.01)
        assert d["weeks_in_use"] == pytest.approx(weeks, abs=1e-6)
        assert d["sends_session_ends"] is bool(lengths)
        assert d["verdict"] == verdict, host
        verdicts.add(verdict)
    # the seed's fleet has tablets (barely used), desks (used) and older agents (unknown)
    assert verdicts == {"barely_used", "used", "unknown"}
    assert data["sessions"]["ends_without_signin"] == 0

    md = cli("fleetpulse-collector", "report", "--db", collector.db, "--since", f"{DAYS + 1}d")
    assert md.returncode == 0, md.stderr
    barely = sorted(h for h, d in got.items() if d["verdict"] == "barely_used")
    section = md.stdout[md.stdout.index("### Barely used devices") :]
    assert all(f"| {h} |" in section for h in barely)
