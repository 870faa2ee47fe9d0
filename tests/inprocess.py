"""The collector's request path assembled in the test process: a real SQLite store in a
temporary directory, the real Authenticator, Writer, Ingestor and servicer, and a real
grpc.aio server on 127.0.0.1 port 0, with clocks and limits injectable."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from fleetpulse.collector.auth import Authenticator, NewDevice, digest
from fleetpulse.collector.ingest import Ingestor
from fleetpulse.collector.metrics import AuthMetrics, IngestMetrics
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.ratelimit import FailureLimiter, RateLimiter
from fleetpulse.collector.servicer import TelemetryServicer, add_to_server
from fleetpulse.collector.settings import SiteSettings
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.writer import Writer
from fleetpulse.contract.records import DeviceFacts, Record, SigninRecord, SigninState

NOW = 1_800_000_000.0  # 2027-01-15, a fixed "now" for records and clocks
TOKEN = "fpt_" + "n" * 43  # the site "north" enrollment token made by parts()
FACTS = DeviceFacts("pc-001", "linux", "Debian 12", "0.1.0", "hw-1", "machine-1")


@dataclass
class Parts:
    store: Store
    auth: Authenticator
    writer: Writer
    ingestor: Ingestor
    registry: CollectorRegistry
    settings: SiteSettings = field(default_factory=SiteSettings)

    def enroll(self, hostname: str = "pc-001", expected_site: str = "") -> NewDevice:
        return self.auth.enroll(
            TOKEN,
            hostname,
            "linux",
            "Debian 12",
            "0.1.0",
            f"hw-{hostname}",  # one machine per hostname: no re-enrollment is suspected
            f"m-{hostname}",
            NOW,
            expected_site,
        )

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def close(self) -> None:
        self.writer.close()
        self.store.close()


def parts(
    tmp_path: Path,
    clock: Callable[[], float] = lambda: NOW,
    limiter: RateLimiter | None = None,
    guard: FailureLimiter | None = None,
) -> Parts:
    """The collector's parts over a fresh SQLite store holding TOKEN (site "north")."""
    store = open_store(f"sqlite:///{tmp_path / 'collector.db'}")
    store.migrate()
    store.create_token("t-north", digest(TOKEN), "north", NOW - 60, None, None)
    registry = CollectorRegistry()
    auth = Authenticator(store, clock=clock, guard=guard, metrics=AuthMetrics(registry))
    writer = Writer(store, linger=0.0)
    ingestor = Ingestor(auth, writer, IngestMetrics(registry), clock=clock, limiter=limiter)
    return Parts(store, auth, writer, ingestor, registry)


def signin(session: str, seconds: float = 42.0) -> SigninRecord:
    return SigninRecord(session, "boot-1", "u" * 16, NOW - 600, SigninState.COMPLETE, seconds)


def report(device_id: str, records: list[tuple[int, Record]]) -> Report:
    """A report of ``(seq, record)`` pairs, observed a minute before NOW."""
    return Report(device_id, FACTS, [Incoming(s, NOW - 60, r) for s, r in records], NOW)


@contextlib.asynccontextmanager
async def serving(p: Parts) -> AsyncIterator[str]:
    """A grpc.aio server with the Telemetry servicer on 127.0.0.1, port 0; yields its
    ``HOST:PORT``."""
    server = grpc.aio.server()
    add_to_server(TelemetryServicer(p.auth, p.ingestor, p.settings), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@contextlib.contextmanager
def serving_in_thread(p: Parts) -> Iterator[str]:
    """serving() on an event loop in a thread, for synchronous clients (the agent's CLI)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    address: list[str] = []

    async def main() -> None:
        async with serving(p) as where:
            address.append(where)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the in-process collector did not start"
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
