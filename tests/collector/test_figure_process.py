"""The every-sixth-refresh figures computed in a child process of their own: the same
figures as in the serving process, and a child that dies costs one refresh's figures (the
previous ones are kept, logged), never the serving; the next refresh starts a new child. The
child ends with the serving process, stopped or killed."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytest

from fleetpulse.collector.figures import FigureProcess, compute
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.server import WINDOW_EVERY_REFRESHES, Collector, ServerConfig
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState
from tests.procs import start_collector

MODEL = {"manufacturer": "unknown", "model": "Latitude 5440"}


def sign_in(store: Store, seq: int, seconds: float) -> None:
    now = time.time()
    facts = DeviceFacts("pc-1", "windows", "11", "1.0", model="Latitude 5440", system_disk="hdd")
    rec = SigninRecord(f"s{seq}", "b", "u", now - 3600 + seq, SigninState.COMPLETE, seconds)
    store.ingest([Report("d1", facts, [Incoming(seq, now, rec)], now)], now)


def logins(collector: Collector) -> float | None:
    return collector._fleet_registry.get_sample_value("fleetpulse_model_logins", MODEL)


async def sixth_refresh(collector: Collector) -> None:
    collector._refreshes = WINDOW_EVERY_REFRESHES  # as after five refreshes
    await collector.refresh()


def dead(pid: int, timeout: float = 10.0) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _one_device(tmp_path: Path) -> tuple[str, Store, float]:
    """A migrated SQLite store with one enrolled device at site hq: its URL, the store,
    and the enrolment time."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    store = open_store(db)
    store.migrate()
    now = time.time()
    store.create_token("t", "th", "hq", now, None, None)
    store.enroll("th", "d1", "sh", "pc-1", "windows", "11", "1.0", "hw", "m", now)
    return db, store, now


def test_the_child_computes_what_the_serving_process_would(tmp_path: Path) -> None:
    db, store, now = _one_device(tmp_path)
    for seq, seconds in enumerate((42.0, 61.5, 300.0), start=1):
        sign_in(store, seq, seconds)
    figures = FigureProcess(db)

    async def both() -> None:
        child = await figures.compute(now, {"hq", "lab"})
        assert child == compute(store, now, {"hq", "lab"})
        assert child.models.models  # not empty: the child read the sign-ins

    try:
        asyncio.run(both())
    finally:
        figures.close()
        store.close()


def test_a_killed_child_keeps_the_previous_figures_and_the_next_refresh_restarts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, store, _ = _one_device(tmp_path)
    sign_in(store, 1, 42.0)
    figures = FigureProcess(db)
    collector = Collector(ServerConfig(db=db), store, figures)

    async def run() -> None:
        await collector.refresh()  # the first, in a thread (at start, before serving)
        assert logins(collector) == 1
        first = await figures.start()
        assert first != os.getpid()
        sign_in(store, 2, 100.0)
        await sixth_refresh(collector)  # in the child
        assert logins(collector) == 2
        os.kill(first, signal.SIGKILL)
        assert dead(first)
        sign_in(store, 3, 7.0)
        before = collector._expired_since
        with caplog.at_level(logging.ERROR, logger="fleetpulse.collector"):
            await sixth_refresh(collector)  # the child is gone: previous figures kept
        assert logins(collector) == 2
        assert "BrokenProcessPool" in caplog.text and "keeping the previous" in caplog.text
        assert collector._expired_since != before  # the fleet state itself was refreshed
        await sixth_refresh(collector)  # a new child
        assert logins(collector) == 3
        second = await figures.start()
        assert second not in (first, os.getpid())

    try:
        asyncio.run(run())
    finally:
        figures.close()
        store.close()


def figure_pid(log: Path) -> int:
    (pid,) = re.findall(r"figure process started \(pid (\d+)\)", log.read_text())
    return int(pid)


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_the_child_ends_with_the_serving_process(tmp_path: Path, sig: str) -> None:
    """``serve`` stopped (SIGTERM) stops its figure process; killed (kill -9, no stop
    run), the child sees its parent gone and ends too: nothing is left behind."""
    log = tmp_path / "collector.log"
    collector = start_collector(f"sqlite:///{tmp_path / 'c.db'}", log=log)
    try:
        child = figure_pid(log)
        os.kill(child, 0)  # running
    finally:
        collector.stop(sig)
    assert dead(child), f"figure process {child} outlived the collector ({sig})"
