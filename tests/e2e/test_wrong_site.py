"""A token of another site than ``install --site`` is refused before anything happens: no
device row, no token use spent, no credential, no service definition (exit 2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.agent.install.commands import RECORD_ENV, Recorder
from fleetpulse.collector.store.base import open_store
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.procs import CollectorProc, cli, start_collector

UNIT = "etc/systemd/system/fleetpulse-agent.service"
CREDENTIALS = "var/lib/fleetpulse/credentials.json"


@pytest.fixture
def collector(db_url: str) -> Iterator[CollectorProc]:
    c = start_collector(db_url)
    yield c
    c.stop()


def _token(c: CollectorProc, site: str) -> str:
    made = cli(
        "fleetpulse-collector", "token", "create", "--site", site, "--max-uses", "5", "--db", c.db
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _uses_and_devices(db: str) -> tuple[list[int], int]:
    store = open_store(db)
    try:
        return [t.uses for t in store.tokens()], len(store.device_rows(time.time()))
    finally:
        store.close()


def test_install_with_a_token_of_another_site_leaves_nothing(
    collector: CollectorProc, tmp_path: Path
) -> None:
    north = _token(collector, "north")
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    record = tmp_path / "commands.jsonl"
    args = [
        "install",
        "--collector",
        collector.grpc,
        "--token",
        north,
        "--site",
        "south",
        "--root",
        str(root),
    ]
    done = cli("fleetpulse-agent", *args, env={RECORD_ENV: str(record)})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "FAILED_PRECONDITION" in lines[0]
    assert "belongs to site 'north', not 'south'" in lines[0]
    assert _uses_and_devices(collector.db) == ([0], 0)
    assert not (root / CREDENTIALS).exists()
    assert not (root / UNIT).exists()
    assert Recorder.read(record) == []  # no service manager command ran

    # the same token with its own site still has all its uses
    args[args.index("--site") + 1] = "north"
    ok = cli("fleetpulse-agent", *args, env={RECORD_ENV: str(record)})
    assert ok.returncode == 0, ok.stderr
    assert _uses_and_devices(collector.db) == ([1], 1)
    assert (root / CREDENTIALS).exists() and (root / UNIT).exists()


def test_enroll_with_another_expected_site_is_failed_precondition(
    collector: CollectorProc,
) -> None:
    north = _token(collector, "north")
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Enroll(pb.EnrollRequest(token=north, expected_site="south"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        details = refused.value.details() or ""
        assert "\n" not in details and "'north'" in details and "'south'" in details
        assert _uses_and_devices(collector.db) == ([0], 0)
        got = stub.Enroll(pb.EnrollRequest(token=north, expected_site="north"), timeout=10)
        assert got.site == "north"
        assert _uses_and_devices(collector.db) == ([1], 1)
