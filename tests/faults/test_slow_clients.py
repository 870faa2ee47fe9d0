"""Clients that connect and never speak, or start a request and stall, must not keep a
normal agent from reporting within its deadline.

Against one collector process: 200 TCP connections that never send a byte; 50 that open
HTTP/2 and a Report call, send part of its message and stall for good; 25 that open 100
such calls each and stall all of them; 100 idle gRPC channels. Meanwhile a device reports
with the agent's real Sender (deadline 5 s), and ``fleetpulse-agent once`` runs as a
separate process: every report is acknowledged well within the deadline and stored once;
nothing the stalled clients sent is stored.
"""

from __future__ import annotations

import socket
import struct
import time
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleetpulse.agent.sender import Sender
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import AppUsageRecord, DeviceFacts
from fleetpulse.contract.serde import record_to_bytes
from tests.e2e.test_pipeline import enroll
from tests.faults import stored_sqlite
from tests.procs import cli, start_collector

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEADLINE = 5.0


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, new name (RFC 7541 §6.2.2)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def _stalled_report(host: str, streams: int) -> bytes:
    """HTTP/2 preface, SETTINGS, then per stream a Report call's headers and a DATA frame
    that announces a 4 KiB message and carries 16 bytes of it."""
    out = PREFACE + _frame(0x4, 0, 0, b"")
    headers = b"".join(
        _literal(k, v)
        for k, v in (
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/fleetpulse.v1.Telemetry/Report"),
            (":authority", host),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        )
    )
    for i in range(streams):
        stream = 2 * i + 1
        out += _frame(0x1, 0x4, stream, headers)  # END_HEADERS, not END_STREAM
        out += _frame(0x0, 0, stream, b"\x00" + struct.pack(">I", 4096) + b"\x0a" * 16)
    return out


def _connect(host: str, port: int) -> socket.socket:
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _frames(s: socket.socket) -> list[tuple[int, int]]:
    """(type, stream) of every HTTP/2 frame the server has sent so far on ``s``."""
    s.setblocking(False)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
        raise AssertionError("the server closed a connection")
    except BlockingIOError:
        pass
    out, i = [], 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i : i + 3], "big")
        out.append((data[i + 3], int.from_bytes(data[i + 5 : i + 9], "big") & 0x7FFFFFFF))
        i += 9 + length
    return out


def test_idle_and_stalled_clients_do_not_delay_a_reporting_agent(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    collector = start_collector(db, log=tmp_path / "collector.log")
    host, port = collector.grpc.rsplit(":", 1)
    try:
        creds = enroll(collector.grpc, db, tmp_path / "agent")
        (tmp_path / "agent" / "config.toml").write_text("boot_settle_seconds = 0\n")
        with ExitStack() as stack:
            silent = [stack.enter_context(_connect(host, int(port))) for _ in range(200)]
            stalled = []
            for i in range(50 + 25):
                s = stack.enter_context(_connect(host, int(port)))
                s.sendall(_stalled_report(collector.grpc, 1 if i < 50 else 100))
                stalled.append(s)
            channels = [
                stack.enter_context(grpc.insecure_channel(collector.grpc)) for _ in range(100)
            ]
            for ch in channels:
                grpc.channel_ready_future(ch).result(timeout=20)
            time.sleep(1.0)  # let the server take all of it in
            # Every one of them reached the server's HTTP/2 layer (its SETTINGS came back)
            # and is still connected. (A stalled call may stay pending or, when the server
            # is short of resources, be cancelled by it: either is fine.)
            for s in silent[:5] + stalled[:5] + stalled[-5:]:
                assert 0x4 in {kind for kind, _ in _frames(s)}

            spool = Spool(str(tmp_path / "device-spool.db"))
            facts = DeviceFacts(
                hostname="patient", os="linux", os_version="t", agent_version="0.1.0"
            )
            sender = Sender(
                collector.grpc,
                creds["device_id"],
                creds["device_secret"],
                deadline=DEADLINE,
                batch_records=50,
            )
            latencies = []
            try:
                now = time.time()
                for round_ in range(10):
                    spool.put(
                        (r.kind, record_to_bytes(r, now))
                        for r in [
                            AppUsageRecord(
                                interval_start=now - 60,
                                interval_seconds=60.0,
                                app=f"a{round_}-{i}.exe",
                                launches=1,
                                running_seconds=60.0,
                                cpu_seconds=1.0,
                            )
                            for i in range(50)
                        ]
                    )
                    t0 = time.monotonic()
                    res = sender.send(spool, facts)
                    latencies.append(time.monotonic() - t0)
                    assert res.ok, res.error
                    assert res.acked == 50 and res.remaining == 0
            finally:
                sender.close()
                spool.close()
            assert max(latencies) < DEADLINE / 2, latencies

            t0 = time.monotonic()
            once = cli("fleetpulse-agent", "once", "--state-dir", str(tmp_path / "agent"))
            took = time.monotonic() - t0
            assert once.returncode == 0 and once.stderr == "", once.stderr
            assert took < 10 + DEADLINE

            health = health_pb2_grpc.HealthStub(channels[0]).Check(
                health_pb2.HealthCheckRequest(service="fleetpulse.v1.Telemetry"), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            assert collector.proc.poll() is None
        stored = stored_sqlite(db)
        assert len(stored["app_usage"]) == 500  # the agent's, once each; nothing stalled
        assert len(stored["boot"]) == 1
        assert len({s for _, s in stored["app_usage"]}) == 500
    finally:
        code = collector.stop()
    assert code == 0
