"""Report handling: authenticate, validate, store (group commit), then count. No grpc."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from fleetpulse.collector import serde
from fleetpulse.collector.auth import Authenticator
from fleetpulse.collector.errors import (
    InvalidReport,
    PermissionDenied,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
)
from fleetpulse.collector.metrics import IngestMetrics
from fleetpulse.collector.model import Device, Outcome, Report
from fleetpulse.collector.ratelimit import RateLimiter
from fleetpulse.collector.validation import device_id_problem, rejected_by_kind, validate
from fleetpulse.collector.worker import Failed, ProcessWriter, Rejected
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
        writer: Writer | ProcessWriter,
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._limiter = limiter or RateLimiter(rate=0)
        self._auth = auth
        self._writer = writer
        self._metrics = metrics
        self._clock = clock

    async def report_bytes(self, raw: bytes, authorization: str | None, peer: str = "") -> Ack:
        """A ``ReportRequest``'s bytes: decoded, validated and stored by the ingest worker
        process (fleetpulse.collector.worker) when there is one, else here (``report``)."""
        writer = self._writer
        if isinstance(writer, Writer):
            return await self.report(serde.report_from_bytes(raw), authorization, peer)
        request = serde.parse_report(raw)  # upb, in C: the device and the record count
        device = await self._device(request.device_id, authorization, peer)
        records = len(request.records)
        self._limiter.check(device.device_id, records)
        try:
            pending = writer.submit(
                device.device_id, records, raw, device.site, device.os, self._clock()
            )
        except RateLimited:  # the write queue is full: nothing was queued
            self._metrics.refused_queue_full(records)
            raise
        result = await pending
        if isinstance(result, Rejected):
            raise InvalidReport(result.problems)
        if isinstance(result, Failed):
            raise StoreUnavailable(result.message, result.retry_after)
        return Ack(result.accepted, result.duplicates, self._clock(), device.site)

    async def _device(self, device_id: str, authorization: str | None, peer: str) -> Device:
        """The device ``authorization`` authenticates, which must be ``device_id``."""
        if problem := device_id_problem(device_id):  # no id we issued: no lookup
            raise Unauthenticated(f"unknown device: {problem}")
        if self._auth.is_cached(device_id):  # the common case: no thread hop
            device = self._auth.authenticate(device_id, authorization, peer)
        else:
            device = await asyncio.to_thread(
                self._auth.authenticate, device_id, authorization, peer
            )
        if device.device_id != device_id:
            raise PermissionDenied("a device may only report its own records")
        return device

    async def report(self, report: Report, authorization: str | None, peer: str = "") -> Ack:
        device = await self._device(report.device_id, authorization, peer)
        self._limiter.check(device.device_id, len(report.records))
        now = self._clock()
        try:
            validate(report, now)
        except InvalidReport as err:
            self._metrics.rejected(rejected_by_kind(report, err))
            raise
        try:
            writer = self._writer
            assert isinstance(writer, Writer), "a worker process takes report bytes"
            pending = writer.submit(report)
        except RateLimited:  # the write queue is full: nothing was queued
            self._metrics.refused_queue_full(len(report.records))
            raise
        outcome = await pending
        assert isinstance(outcome, Outcome)
        self._metrics.observe(device.site, device.os, outcome.accepted, now)
        self._metrics.duplicates(outcome.duplicates)
        self._metrics.agent_dropped(outcome.dropped)
        return Ack(len(outcome.accepted), outcome.duplicate_count, self._clock(), device.site)
