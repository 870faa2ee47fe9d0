"""Connection limits: an idle HTTP/2 connection is closed by the collector (GOAWAY, then the
socket closes), agents reconnect for their next report, and the keepalive policies of the
two sides agree so a well-behaved agent is never sent away for pinging too often."""

from __future__ import annotations

import asyncio
import configparser
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent import transport
from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.collector import auth, server
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.contract.records import DeviceFacts

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7
ACK = 0x1
HANDSHAKE = 1.0


class Running:
    """A collector serving in this process on its own event loop thread."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.collector: Collector | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))
        self._thread.start()
        assert self._ready.wait(30) and self.error is None, self.error

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.collector = Collector(self._config)
            await self.collector.start()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.collector.stop(grace=1.0)

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    r = Running(
        ServerConfig(
            db=f"sqlite:///{tmp_path / 'c.db'}",
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            max_connection_idle_seconds=1.0,
        )
    )
    yield r
    r.close()


def _frame(kind: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + b"\0\0\0\0" + payload


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def test_an_idle_connection_is_closed(running: Running) -> None:
    assert running.collector is not None
    sock = socket.create_connection(("127.0.0.1", running.collector.port), timeout=20)
    opened = time.monotonic()
    sock.sendall(PREFACE + _frame(SETTINGS, 0))  # a client that connects and says nothing
    goaway: tuple[float, int, bytes] | None = None
    closed_at = None
    with sock:
        while closed_at is None:
            try:
                header = _read(sock, 9)
            except EOFError:
                closed_at = time.monotonic() - opened
                break
            length = int.from_bytes(header[:3], "big")
            kind, flags = header[3], header[4]
            payload = _read(sock, length)
            if kind == SETTINGS and not flags & ACK:
                sock.sendall(_frame(SETTINGS, ACK))
            elif kind == PING and not flags & ACK:
                sock.sendall(_frame(PING, ACK, payload))  # well-behaved: answers pings
            elif kind == GOAWAY:
                code = int.from_bytes(payload[4:8], "big")
                goaway = (time.monotonic() - opened, code, payload[8:])
    assert goaway is not None, "the server closed without GOAWAY"
    at, code, debug = goaway
    assert b"idle" in debug, (code, debug)  # grpcio 1.85 says "connection idle"
    assert 0.8 <= at <= 10.0, at
    assert closed_at <= 15.0, closed_at


def test_a_connection_that_never_speaks_is_closed(tmp_path: Path) -> None:
    quiet = Running(
        ServerConfig(
            db=f"sqlite:///{tmp_path / 'c.db'}",
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            handshake_timeout_seconds=HANDSHAKE,
        )
    )
    try:
        assert quiet.collector is not None
        _closed_unspoken(quiet.collector.port)
    finally:
        quiet.close()


def _closed_unspoken(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    opened = time.monotonic()
    with sock:  # the server's SETTINGS arrive; the client never sends its preface
        while sock.recv(1024):
            pass
    assert 0.8 <= time.monotonic() - opened <= 10.0


def test_agents_reconnect_after_an_idle_close(running: Running, tmp_path: Path) -> None:
    assert running.collector is not None
    c = running.collector
    token_id, token, token_hash = auth.new_token()
    c.store.create_token(token_id, token_hash, "hq", time.time(), None, None)
    facts = DeviceFacts("idle-host", "linux", "6.8", "0.1.0")
    got = enroll(c.grpc_address, token, facts)
    spool = Spool(str(tmp_path / "spool.db"))
    sender = Sender(c.grpc_address, got.device_id, got.device_secret)
    try:
        assert sender.send(spool, facts).ok
        time.sleep(2.5)  # past the idle age: the server has closed the connection
        second = sender.send(spool, facts)
        assert second.ok, second.error
    finally:
        sender.close()
        spool.close()


def test_keepalive_policies_agree() -> None:
    opts = dict(server.server_options(ServerConfig(db="sqlite:///:memory:")))
    client = dict(transport.CHANNEL_OPTIONS)
    # the server accepts pings without calls, at most one per min_ping_interval; the agent
    # pings at half that rate at most, so it never collects a strike (gRPC doc/keepalive.md)
    assert opts["grpc.keepalive_permit_without_calls"] == 1
    assert (
        client["grpc.keepalive_time_ms"] >= 2 * opts["grpc.http2.min_ping_interval_without_data_ms"]
    )
    assert opts["grpc.so_reuseport"] == 0
    assert opts["grpc.max_connection_idle_ms"] == 300_000
    assert opts["grpc.max_connection_age_ms"] == 1_800_000
    assert opts["grpc.max_connection_age_grace_ms"] == 60_000
    assert opts["grpc.server_handshake_timeout_ms"] == 20_000


def test_the_documented_unit_raises_the_descriptor_limit() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    unit = doc.split("```ini\n", 1)[1].split("```", 1)[0]
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit)
    service = parser["Service"]
    assert int(service["LimitNOFILE"]) >= 65536  # far above the usual soft limit of 1024
    assert service["ExecStart"].split()[1] == "serve"
    # systemd waits for the drain (SIGTERM: in-flight reports commit and ack) longer than
    # gRPC's stop grace in fleetpulse.collector.cli
    assert int(service["TimeoutStopSec"]) > 10
