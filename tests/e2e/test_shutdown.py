"""SIGTERM under load: in-flight reports are committed and acked, the process exits 0, and
every acknowledged record is in the store (acks only ever follow commits)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc

from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.e2e.test_pipeline import _report, enroll, stored
from tests.procs import start_collector


def test_sigterm_under_load_loses_no_acked_record(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    collector = start_collector(db, "--device-rate", "0")  # load, not a flood to refuse
    creds = [enroll(collector.grpc, db, tmp_path / f"a{i}") for i in range(4)]
    acked: list[int] = []
    failures: list[grpc.StatusCode] = []
    lock = threading.Lock()

    def sender(c: dict[str, str]) -> None:
        auth = (("authorization", f"Device {c['device_secret']}"),)
        with grpc.insecure_channel(collector.grpc) as channel:
            stub = pb_grpc.TelemetryStub(channel)
            for batch in range(1000):
                seqs = range(batch * 20 + 1, batch * 20 + 21)
                try:
                    resp = stub.Report(_report(c, seqs), metadata=auth, timeout=10)
                except grpc.RpcError as err:
                    with lock:
                        failures.append(err.code())
                    return
                with lock:
                    acked.append(resp.accepted)

    threads = [threading.Thread(target=sender, args=(c,)) for c in creds]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if sum(acked) >= 400:
                break
        time.sleep(0.05)
    collector.proc.send_signal(signal.SIGTERM)
    code = collector.stop()
    for t in threads:
        t.join(timeout=30)
    assert code == 0
    assert sum(acked) >= 400
    assert len(failures) == len(creds)  # every sender saw the server go away
    # nothing acknowledged is missing; at most the in-flight, unacknowledged batches extra
    rows = stored(db, "signins")
    assert sum(acked) <= rows <= sum(acked) + 20 * len(creds)
