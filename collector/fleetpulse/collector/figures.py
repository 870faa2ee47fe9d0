"""The figures of every sixth fleet-state refresh, and the process that computes them.

The event-time window figures (fleetpulse_login_window_*, signin_windows) and the by-model
figures (fleetpulse_model_*, model_board) come from one read of the last 28 days' SLA
sign-ins, boots and devices as numpy columns (store/figure_reads.py), computed over whole
arrays (grouped.py). At 300,000 devices (~573,000 sign-ins, ~285,000 boots) that is 2-4 s on
SQLite and ~2 s on PostgreSQL, nearly all of it the read; the computation is ~0.4 s (it was
~4 s of per-row Python, 8-9 s in all: docs/benchmarks.md, "The every-sixth-refresh figures
over numpy columns"). Run in a thread of the serving process, the work holds the GIL against
gRPC's event loop; FigureProcess runs it in a child process of its own (its own GIL) that
opens its own read-only store from the database URL, and answers the small result (Figures,
pickled).

Failures: a computation that raises in the child raises the same error in the caller; a child
that dies (killed, out of memory) breaks its pool: the caller gets BrokenProcessPool, and
the next computation starts a new child. The caller keeps its previous figures meanwhile
(server.Collector). A serving process that ends without stopping it (kill -9) ends it too:
the child watches its parent.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Set
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import wait

from fleetpulse.collector.model import SigninWindows
from fleetpulse.collector.model_board import WINDOW_SECONDS as MODEL_WINDOW_SECONDS
from fleetpulse.collector.model_board import from_columns as compute_models
from fleetpulse.collector.report.models import ModelSection
from fleetpulse.collector.signin_windows import WINDOWS, window_end
from fleetpulse.collector.signin_windows import from_columns as compute_windows
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.store.figure_reads import FigureRows

log = logging.getLogger("fleetpulse.collector.figures")

#: Added to the child's nice value (nice(2): 0 to 19, higher runs later).
NICENESS = 10


@dataclass(frozen=True, slots=True)
class Figures:
    """The window figures (ending at window_end(now)) and the by-model figures (the
    model board's window ending there)."""

    windows: SigninWindows
    models: ModelSection


def compute(store: Store, now: float, sites: Set[str]) -> Figures:
    """Both figures at ``now`` (Unix seconds) from ``store``; ``sites`` are the sites with
    devices (each has window figures, zero sign-ins when it had none). Store errors
    propagate (StoreUnavailable, ...)."""
    until = window_end(now)
    # one read of the 28 days serves both (the windows' longest is the by-model window)
    rows = store.figure_rows(until - max(MODEL_WINDOW_SECONDS, *WINDOWS.values()), until)
    return figures_of(rows, until, sites)


def figures_of(rows: FigureRows, until: float, sites: Set[str]) -> Figures:
    """Both figures at ``until`` (a whole second, window_end) from what the store read."""
    return Figures(window_figures(rows, until, sites), model_figures(rows, until))


def window_figures(rows: FigureRows, until: float, sites: Set[str]) -> SigninWindows:
    """The window figures at ``until`` from what the store read."""
    devices, signins = rows.devices, rows.signins
    return compute_windows(
        devices.site[signins.device], signins.at, signins.total, devices.sites, until, sites
    )


def model_figures(rows: FigureRows, until: float) -> ModelSection:
    """The by-model figures of the model board's window ending at ``until``."""
    since = until - MODEL_WINDOW_SECONDS
    signins, boots = rows.signins, rows.boots
    return compute_models(
        rows.devices, signins.where(signins.at >= since), boots.where(boots.at >= since)
    )


_store: Store | None = None  # the child's read-only store (opened by _open)


def _open(db: str) -> None:
    """The child's initializer. Signals meant for the serving process (Ctrl-C to the
    process group, SIGTERM) are left to it: it stops the child at its own stop."""
    global _store
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the lowest CPU priority of the collector's processes: where the cores are busy, the
    # scheduler runs the serving process and the ingest worker first (nice(2)); the figures
    # can wait
    os.nice(NICENESS)
    _store = open_store(db, Access.READ)
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()


def _exit_with_parent() -> None:
    """Ends the child when the serving process is gone (kill -9 included): the pool's queue
    never reports it (the child holds both ends of it), the parent's sentinel does (the
    spawn pipe's end, readable at the parent's exit: multiprocessing.parent_process)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a spawned child (compute called in the serving process)
        return
    wait([parent.sentinel])
    os._exit(0)


def _compute_in_child(now: float, sites: frozenset[str]) -> Figures:
    assert _store is not None, "initializer not run"
    return compute(_store, now, sites)


def _pid() -> int:
    return os.getpid()


class FigureProcess:
    """One child process (spawned, ProcessPoolExecutor with max_workers=1) computing
    Figures from the store at ``db`` (a URL as for open_store), opened read-only."""

    def __init__(self, db: str) -> None:
        self._db = db
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=get_context("spawn"),
                initializer=_open,
                initargs=(self._db,),
            )
        return self._pool

    async def start(self) -> int:
        """Starts the child (a new interpreter: about a second) and answers its process
        id. Errors as for ``compute``."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _pid)
        except BaseException:
            self._forget_if_broken(pool)
            raise

    async def compute(self, now: float, sites: Set[str]) -> Figures:
        """``compute(store, now, sites)`` run in the child. Raises what the child raised, or
        BrokenProcessPool when the child died (the next call starts a new one)."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _compute_in_child, now, frozenset(sites))
        except BaseException:
            self._forget_if_broken(pool)
            raise

    def _forget_if_broken(self, pool: ProcessPoolExecutor) -> None:
        if pool._broken:  # the child died: its pool takes no more work
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stops the child without waiting for a computation under way (it only reads)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        children = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for child in children:
            child.kill()
            child.join(timeout=5)
