"""No secret in a status message or a log line; store errors are UNAVAILABLE on every RPC.

PostgreSQL: the collector's --db URL carries a password and points at a TCP relay in front
of the real server (trust authentication ignores the password). Once the relay is closed
the database is unreachable, as if it had gone down: every Report and Enroll must answer
UNAVAILABLE with ``retry-after-ms``, and neither the status messages nor the collector's
stderr may contain the password. SQLite: the collector's files may not grow past a size
limit (RLIMIT_FSIZE, as in tests/faults/test_database_unavailable.py), so enrolments fill
the disk; the first one that cannot be stored is UNAVAILABLE with a retry hint.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest

from fleetpulse.collector.auth import new_token
from fleetpulse.contract.records import DeviceFacts
from fleetpulse.contract.serde import facts_to_proto
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.procs import BIN, CollectorProc, cli, start_collector

pytestmark = pytest.mark.timeout(120)

PASSWORD = "Pw-" + uuid.uuid4().hex  # nothing else in the test's output contains this
FACTS = facts_to_proto(DeviceFacts("secret-host", "linux", "6.1", "0.1.0"))


class Relay:
    """A TCP relay on a free loopback port to ``upstream``; ``close`` ends every relayed
    connection and stops listening, so the port refuses connections afterwards."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def _with_password(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@127.0.0.1:{port}"))


@pytest.fixture
def relay(pg_url: str) -> Iterator[Relay]:
    parts = urlsplit(pg_url)
    r = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield r
    r.close()


def _call(fn: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    err = info.value
    assert isinstance(err, grpc.RpcError)
    return err


def _retry_hint(err: grpc.RpcError) -> int:
    trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    return int(trailers["retry-after-ms"])


def test_database_down_gives_unavailable_and_never_the_password(
    pg_url: str, relay: Relay, tmp_path: Path
) -> None:
    url = _with_password(pg_url, relay.port)
    log = tmp_path / "collector.log"
    collector = start_collector(url, "--device-rate", "0", log=log)
    try:
        token = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", pg_url)
        assert token.returncode == 0, token.stderr
        with grpc.insecure_channel(collector.grpc) as channel:
            stub = pb_grpc.TelemetryStub(channel)
            enrolled = stub.Enroll(
                pb.EnrollRequest(token=token.stdout.strip(), facts=FACTS), timeout=10
            )
            auth = (("authorization", f"Device {enrolled.device_secret}"),)
            ok = stub.Report(
                pb.ReportRequest(device_id=enrolled.device_id, facts=FACTS),
                metadata=auth,
                timeout=10,
            )
            assert ok.accepted == 0  # reachable so far; the credential is now cached

            relay.close()  # the database goes away
            errors = {
                "report, cached device": _call(
                    lambda: stub.Report(
                        pb.ReportRequest(device_id=enrolled.device_id, facts=FACTS),
                        metadata=auth,
                        timeout=20,
                    )
                ),
                "report, unknown device": _call(
                    lambda: stub.Report(
                        pb.ReportRequest(device_id=str(uuid.uuid4()), facts=FACTS),
                        metadata=(("authorization", f"Device {new_token()[1]}"),),
                        timeout=20,
                    )
                ),
                "enroll": _call(
                    lambda: stub.Enroll(
                        pb.EnrollRequest(token=token.stdout.strip(), facts=FACTS), timeout=20
                    )
                ),
                "enroll again": _call(
                    lambda: stub.Enroll(
                        pb.EnrollRequest(token=new_token()[1], facts=FACTS), timeout=20
                    )
                ),
            }
            no_credential = _call(
                lambda: stub.Report(
                    pb.ReportRequest(device_id=str(uuid.uuid4()), facts=FACTS), timeout=20
                )
            )
    finally:
        assert collector.stop() == 0
    for what, err in errors.items():
        assert err.code() == grpc.StatusCode.UNAVAILABLE, (what, err.code(), err.details())
        assert _retry_hint(err) > 0, what
        assert PASSWORD not in (err.details() or ""), what
    assert no_credential.code() == grpc.StatusCode.UNAUTHENTICATED
    text = log.read_text()
    assert "UNAVAILABLE" in text  # the failures were logged ...
    assert PASSWORD not in text  # ... without the password
    assert enrolled.device_secret not in text and token.stdout.strip() not in text


def test_unreachable_database_at_startup_is_one_line_without_the_password() -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test"
    for args in (
        ("serve", "--db", url, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"),
        ("token", "create", "--site", "hq", "--db", url),
    ):
        got = cli("fleetpulse-collector", *args, timeout=30)
        assert got.returncode != 0
        lines = got.stderr.strip().splitlines()
        assert len(lines) == 1, got.stderr
        assert lines[0].startswith("fleetpulse-collector: error: cannot connect to PostgreSQL")
        assert "postgres:***@127.0.0.1:1" in lines[0]
        assert PASSWORD not in got.stderr + got.stdout


def _limited(limit: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return setup


def test_enroll_on_a_full_disk_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    db = f"sqlite:///{path}"
    start_collector(db).stop()  # create and migrate without a limit
    made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db)
    assert made.returncode == 0, made.stderr
    limit = max(os.path.getsize(path), 64 * 1024) + 48 * 1024
    proc = subprocess.Popen(
        [
            str(BIN / "fleetpulse-collector"),
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_limited(limit),
    )
    assert proc.stdout is not None
    target = proc.stdout.readline().split()[1]
    collector = CollectorProc(proc, db, target, proc.stdout.readline().split()[1])
    failure: grpc.RpcError | None = None
    enrolled = 0
    try:
        with grpc.insecure_channel(collector.grpc) as channel:
            stub = pb_grpc.TelemetryStub(channel)
            deadline = time.monotonic() + 60
            while failure is None and time.monotonic() < deadline:
                try:
                    stub.Enroll(
                        pb.EnrollRequest(token=made.stdout.strip(), facts=FACTS), timeout=10
                    )
                    enrolled += 1
                except grpc.RpcError as err:
                    failure = err
    finally:
        assert collector.stop() == 0
    assert failure is not None, "the disk never filled"
    assert enrolled > 0
    assert failure.code() == grpc.StatusCode.UNAVAILABLE, (failure.code(), failure.details())
    assert _retry_hint(failure) > 0
    assert "the database could not" in (failure.details() or "")
