"""Group commit: one writer thread stores queued reports in shared transactions.

Reports waiting while a transaction commits go together in the next one, so durable
commits (fsync) are shared by many reports under load. Each caller gets its outcome only
after the commit that holds its records.

Backpressure: the records queued or being committed are bounded (``max_queued_records``).
A report that would go over the bound is refused at once with RateLimited (the servicer
answers RESOURCE_EXHAUSTED with ``retry-after-ms``): nothing of it was queued, so the agent
keeps it spooled and sends it again after the hint, and the collector's memory does not grow
with a storm the database cannot absorb. The hint is the time the writer needs to drain
what is queued at the rate it has been committing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fleetpulse.collector.errors import RateLimited, StoreUnavailable
from fleetpulse.collector.model import Outcome, Report
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.base import Store

log = logging.getLogger("fleetpulse.collector.writer")

#: One queued report: its device, its record count, what the committer needs of it, and the
#: future its caller awaits (resolved on the caller's event loop).
_Item = tuple[str, int, Any, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_STOP = None

#: Records queued or being committed before new reports are refused: 100 full reports
#: (REPORT_MAX_RECORDS = 500), a few seconds of the writer's work and a few tens of MB.
MAX_QUEUED_RECORDS = 50_000
#: Bounds of the retry hint given when the queue is full, in seconds.
RETRY_MIN = 0.05
RETRY_MAX = 5.0


class GroupQueue:
    """The bounded queue and the grouping thread; ``_commit`` stores one group (the
    in-process store: Writer; an ingest worker process: fleetpulse.collector.worker)."""

    def __init__(
        self,
        max_group: int = 128,
        clock: Callable[[], float] = time.time,
        linger: float = 0.002,
        max_queued_records: int = MAX_QUEUED_RECORDS,
    ) -> None:
        self._linger = linger
        self._max_group = max_group
        self._clock = clock
        self._max_queued = max_queued_records
        self._queued = 0  # records submitted and not yet committed or failed
        self._count_lock = threading.Lock()
        self._rate = 0.0  # records committed per second, smoothed over recent groups
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="fleetpulse-writer", daemon=True)
        self._thread.start()

    @property
    def queued_records(self) -> int:
        """Records submitted and not yet committed (or failed)."""
        return self._queued

    def _enqueue(self, device_id: str, records: int, payload: Any) -> asyncio.Future[Any]:
        """Queues ``payload`` for the next group commit; its future holds the outcome after
        the commit. RateLimited (nothing queued) if the queue is full; a report alone is
        always taken, however large."""
        n = max(1, records)
        with self._count_lock:
            if self._queued and self._queued + n > self._max_queued:
                raise RateLimited(
                    f"the collector's write queue is full ({self._queued} records waiting "
                    f"for the database); send again later",
                    self._retry_after(self._queued),
                )
            self._queued += n
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put((device_id, n, payload, fut, loop))
        return fut

    def _retry_after(self, queued: int) -> float:
        """Seconds to drain ``queued`` records at the recent commit rate, bounded."""
        if self._rate <= 0:
            return 1.0
        return min(RETRY_MAX, max(RETRY_MIN, queued / self._rate))

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            # Linger briefly for company (one fsync then serves many reports), at most
            # ``linger`` in all: what is queued already is taken without waiting.
            deadline = time.monotonic() + self._linger
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=left)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            # The same order in every transaction: two collectors on one database then take
            # device row locks in the same order and cannot deadlock on each other.
            group.sort(key=lambda item: item[0])
            self._commit(group)
            if stop:
                return

    def _done(self, group: list[_Item], started: float) -> None:
        """Accounts for a group committed (or failed) since ``started`` (time.monotonic):
        its records leave the queue's count and the commit rate is updated."""
        records = sum(item[1] for item in group)
        with self._count_lock:
            self._queued -= records
        took = time.monotonic() - started
        if took > 0:
            rate = records / took
            self._rate = rate if self._rate <= 0 else 0.8 * self._rate + 0.2 * rate

    def start(self) -> None:
        """Starts what committing needs beyond the thread (nothing here)."""

    def _commit(self, group: list[_Item]) -> None:
        """Stores ``group`` (sorted by device) or hands it on; calls ``_done`` once the
        group's futures are answered. Runs in the grouping thread."""
        raise NotImplementedError

    def _stop_thread(self, timeout: float = 60.0) -> None:
        """Commits everything queued so far, then stops the thread (waits at most
        ``timeout`` seconds for it)."""
        self._queue.put(_STOP)
        self._thread.join(timeout=timeout)

    def close(self) -> None:
        """Commits everything queued so far, then stops."""
        self._stop_thread()


class Writer(GroupQueue):
    """Group commit in a thread of this process, into ``store``."""

    def __init__(self, store: Store, **kwargs: Any) -> None:
        self._store = store
        super().__init__(**kwargs)

    def submit(self, report: Report) -> asyncio.Future[Outcome]:
        """Queues ``report``; see GroupQueue._enqueue."""
        return self._enqueue(report.device_id, len(report.records), report)

    def _commit(self, group: list[_Item]) -> None:
        started = time.monotonic()
        outcomes = store_group(self._store, [item[2] for item in group], self._clock)
        answer(group, outcomes)
        self._done(group, started)


def store_group(
    store: Store, reports: list[Report], clock: Callable[[], float]
) -> list[Outcome | StoreUnavailable]:
    """Stores ``reports`` in one transaction; per report its Outcome, or StoreUnavailable
    (redacted) when its transaction failed: nothing of it was committed. A group failing
    for its data (not for the database) is stored report by report, so that one report
    the database cannot take does not fail the others."""
    try:
        return list(store.ingest(reports, clock()))
    except Exception as exc:  # nothing of the group was committed, nothing acked
        if len(reports) > 1 and not store.transient(exc):
            return [out for r in reports for out in store_group(store, [r], clock)]
        err = (
            exc
            if isinstance(exc, StoreUnavailable)
            else StoreUnavailable(f"the database could not commit: {redact(exc)}".splitlines()[0])
        )
        log.error("store commit failed for %d report(s): %s", len(reports), redact(err))
        return [err] * len(reports)


def answer(group: list[_Item], outcomes: Sequence[Any]) -> None:
    """Resolves each item's future with its outcome (an Exception is raised to its caller),
    from any thread: one ``call_soon_threadsafe`` per event loop of the group (one wake-up
    of the loop, not one per report)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for (_, _, _, fut, loop), outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((fut, outcome))
    for loop, answers in by_loop.items():
        loop.call_soon_threadsafe(_resolve, answers)


def _resolve(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, outcome in answers:
        if fut.done():  # the caller went away (cancelled)
            continue
        if isinstance(outcome, Exception):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)
