"""Report handling: authenticate, validate, store (group commit), then count. No grpc."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from fleetpulse.collector.auth import Authenticator
from fleetpulse.collector.errors import (
    InvalidReport,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from fleetpulse.collector.metrics import IngestMetrics
from fleetpulse.collector.model import Report
from fleetpulse.collector.ratelimit import RateLimiter
from fleetpulse.collector.validation import device_id_problem, validate
from fleetpulse.collector.writer import Writer


@dataclass(frozen=True, slots=True)
class Ack:
    accepted: int
    duplicates: int
    server_time: float
    site: str


class Ingestor:
    def __init__(
        self,
        auth: Authenticator,
        writer: Writer,
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._limiter = limiter or RateLimiter(rate=0)
        self._auth = auth
        self._writer = writer
        self._metrics = metrics
        self._clock = clock

    async def report(self, report: Report, authorization: str | None, peer: str = "") -> Ack:
        if problem := device_id_problem(report.device_id):  # no id we issued: no lookup
            raise Unauthenticated(f"unknown device: {problem}")
        if self._auth.is_cached(report.device_id):  # the common case: no thread hop
            device = self._auth.authenticate(report.device_id, authorization, peer)
        else:
            device = await asyncio.to_thread(
                self._auth.authenticate, report.device_id, authorization, peer
            )
        if device.device_id != report.device_id:
            raise PermissionDenied("a device may only report its own records")
        self._limiter.check(device.device_id, len(report.records))
        now = self._clock()
        try:
            validate(report, now)
        except InvalidReport as err:
            bad = set(err.seqs)
            rejected: dict[str, int] = {}
            for inc in report.records:
                if inc.seq in bad or not bad:
                    kind = inc.record.kind.value
                    rejected[kind] = rejected.get(kind, 0) + 1
            self._metrics.rejected(rejected)
            raise
        try:
            pending = self._writer.submit(report)
        except RateLimited:  # the write queue is full: nothing was queued
            self._metrics.refused_queue_full(len(report.records))
            raise
        outcome = await pending
        self._metrics.observe(device.site, device.os, outcome.accepted, now)
        self._metrics.duplicates(outcome.duplicates)
        self._metrics.agent_dropped(outcome.dropped)
        return Ack(len(outcome.accepted), outcome.duplicate_count, self._clock(), device.site)
