"""The background pruning of ``serve``: every ``every_seconds``, events older than the
retention of their kind are deleted in batches (store/retention.py), each batch a short
transaction run off the event loop, so ingest waits for one batch at most."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

from fleetpulse.collector.metrics import RetentionMetrics
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.base import Store
from fleetpulse.collector.store.retention import BATCH, TABLES, RetentionPolicy

log = logging.getLogger("fleetpulse.collector")


class Pruner:
    """Runs pruning passes until ``stop()``; a failing pass is logged and retried at the
    next one (a database that is down must not stop the server)."""

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy,
        metrics: RetentionMetrics,
        every_seconds: float,
        batch: int = BATCH,
    ) -> None:
        self._store = store
        self._policy = policy
        self._metrics = metrics
        self._every = every_seconds
        self._batch = batch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def prune(self, now: float) -> dict[str, int]:
        """One pass at ``now`` (Unix seconds): events deleted per kind."""
        done: dict[str, int] = {}
        for kind in TABLES:
            before = now - self._policy.seconds(kind)
            done[kind] = 0
            while not self._stopping.is_set():
                n = await asyncio.to_thread(self._store.prune_batch, kind, before, self._batch)
                self._metrics.count(kind, n)
                done[kind] += n
                if n < self._batch:
                    break
            if done[kind]:
                log.info(
                    "pruned %d %s events older than %s",
                    done[kind],
                    kind,
                    time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(before)),
                )
        return done

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.prune(time.time())
            except Exception as exc:
                log.error("pruning old events failed: %s", redact(exc))
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Lets the batch in progress commit, then ends the loop."""
        self._stopping.set()
        if self._task is not None:
            await self._task
