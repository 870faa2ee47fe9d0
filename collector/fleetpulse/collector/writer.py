"""Group commit: one writer thread stores queued reports in shared transactions.

Reports waiting while a transaction commits go together in the next one, so durable
commits (fsync) are shared by many reports under load. Each caller gets its outcome only
after the commit that holds its records.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

from fleetpulse.collector.errors import StoreUnavailable
from fleetpulse.collector.model import Outcome, Report
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.base import Store

log = logging.getLogger("fleetpulse.collector.writer")

_Item = tuple[Report, asyncio.Future[Outcome], asyncio.AbstractEventLoop]
_STOP = None


class Writer:
    def __init__(
        self,
        store: Store,
        max_group: int = 128,
        clock: Callable[[], float] = time.time,
        linger: float = 0.002,
    ) -> None:
        self._linger = linger
        self._store = store
        self._max_group = max_group
        self._clock = clock
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="fleetpulse-writer", daemon=True)
        self._thread.start()

    def submit(self, report: Report) -> asyncio.Future[Outcome]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((report, fut, loop))
        return fut

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    # Linger briefly for company: one fsync then serves many reports.
                    item = self._queue.get(timeout=self._linger)
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            # The same order in every transaction: two collectors on one database then take
            # device row locks in the same order and cannot deadlock on each other.
            group.sort(key=lambda item: item[0].device_id)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Item]) -> None:
        try:
            outcomes = self._store.ingest([r for r, _, _ in group], self._clock())
        except Exception as exc:  # nothing of the group was committed, nothing acked
            if len(group) > 1 and not self._store.transient(exc):
                # One report the database cannot take must not fail the others: commit
                # each on its own (not when the database itself is down or locked).
                for item in group:
                    self._commit([item])
                return
            err = (
                exc
                if isinstance(exc, StoreUnavailable)
                else StoreUnavailable(
                    f"the database could not commit: {redact(exc)}".splitlines()[0]
                )
            )
            log.error("store commit failed for %d report(s): %s", len(group), redact(err))
            for _, fut, loop in group:
                loop.call_soon_threadsafe(_set_exception, fut, err)
            return
        for (_, fut, loop), outcome in zip(group, outcomes, strict=True):
            loop.call_soon_threadsafe(_set_result, fut, outcome)

    def close(self) -> None:
        """Commits everything queued so far, then stops the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout=60)


def _set_result(fut: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not fut.done():
        fut.set_result(outcome)


def _set_exception(fut: asyncio.Future[Outcome], err: Exception) -> None:
    if not fut.done():
        fut.set_exception(err)
