"""The ingest worker: a process of its own (its own GIL) that decodes, validates and stores
groups of reports, so that the per-record Python does not contend with gRPC's event loop.

The serving process authenticates and rate-limits each report on its event loop (from the
request parsed once by upb, in C: device id and record count) and queues the raw request
bytes (GroupQueue: bounded, RESOURCE_EXHAUSTED when full). Its writer thread sends each
group to the worker over a pipe (``multiprocessing.connection``, pickled) and waits; the
worker, for every report of the group, decodes it (serde), validates it (validation),
stores the valid ones in one transaction (writer.store_group: rounds, one statement per
kind, report by report when the group fails for its data), counts their metrics into its
own tallies (IngestMetrics.observe, duplicates, agent drops, rejections) and answers one
Result per report and the group's tallies (IngestMetrics.take). The serving process adds the
tallies to its own (IngestMetrics.merge, once per group, on the event loop) before it
resolves the reports' futures, so a scrape after an ack sees that report.

Guarantees: a report is acknowledged only after the worker answered that its transaction
committed. If the worker dies (or the pipe breaks) while a group is with it, every report of
the group is answered UNAVAILABLE with ``retry-after-ms``, and a new worker is started for the
next group: the group's transaction either committed (the resend is counted duplicate by
the keys) or did not (the resend is stored), so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import CollectorRegistry

from fleetpulse.collector import serde
from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.metrics import AppLabels, ContributorLabels, IngestMetrics
from fleetpulse.collector.model import Outcome, Report
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.tally import Labels
from fleetpulse.collector.validation import rejected_by_kind, validate
from fleetpulse.collector.writer import GroupQueue, _Item, _set_result, store_group

log = logging.getLogger("fleetpulse.collector.worker")

#: Seconds an agent is told to wait after the worker died under its report (a restart takes
#: about a second: a new interpreter imports the collector and opens the database).
RESTART_RETRY = 1.0


@dataclass(frozen=True, slots=True)
class Stored:
    """The report's transaction committed: ``accepted`` records new, ``duplicates`` not."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The report failed decoding or validation (InvalidReport's problems); nothing stored."""

    problems: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Failed:
    """The report's transaction did not commit (StoreUnavailable: message redacted)."""

    message: str
    retry_after: float


Result = Stored | Rejected | Failed
#: What the worker's tallies counted for one group (IngestMetrics.take).
Taken = dict[str, dict[Labels, Any]]
#: One report as queued for the worker: request bytes, the device's site and OS (metric
#: labels), and the time it was received (validation's "now", the lag metric's).
Raw = tuple[bytes, str, str, float]


class _NamesAsSent(AppLabels):
    """App names passed through uncapped: the serving process caps them (merge)."""

    def label(self, app: str) -> str:
        return app


class _ContributorsAsSent(ContributorLabels):
    """Contributor and boot culprit names passed through uncapped, like _NamesAsSent."""

    def label(self, kind: str, name: str) -> str:
        return name


def worker_metrics() -> IngestMetrics:
    """The worker's own tallies: app, contributor and boot culprit names uncapped (the
    serving process caps them when it merges), no series yet."""
    metrics = IngestMetrics(
        CollectorRegistry(), _NamesAsSent(), _ContributorsAsSent(), _ContributorsAsSent()
    )
    metrics.take()  # the series created at zero are the serving process's
    return metrics


def handle(store: Store, metrics: IngestMetrics, group: list[Raw]) -> list[Result]:
    """Decodes, validates and stores one group; counts into ``metrics``. One Result per
    report, in order."""
    results: list[Result | None] = [None] * len(group)
    valid: list[tuple[int, Report]] = []
    for i, (raw, _, _, now) in enumerate(group):
        try:
            report = serde.report_from_bytes(raw)
        except InvalidReport as err:
            results[i] = Rejected(err.problems)
            continue
        try:
            validate(report, now)
        except InvalidReport as err:
            metrics.rejected(rejected_by_kind(report, err))
            results[i] = Rejected(err.problems)
            continue
        valid.append((i, report))
    if valid:
        outcomes = store_group(store, [r for _, r in valid], time.time)
        for (i, _), outcome in zip(valid, outcomes, strict=True):
            results[i] = _result(metrics, outcome, group[i])
    return [r if r is not None else Failed("internal error", RESTART_RETRY) for r in results]


def _result(metrics: IngestMetrics, outcome: Outcome | Exception, raw: Raw) -> Result:
    if not isinstance(outcome, Outcome):
        return Failed(str(outcome), getattr(outcome, "retry_after", RESTART_RETRY))
    _, site, os, now = raw
    metrics.observe(site, os, outcome.accepted, now)
    metrics.duplicates(outcome.duplicates)
    metrics.agent_dropped(outcome.dropped)
    return Stored(len(outcome.accepted), outcome.duplicate_count)


def serve(conn: Connection, db: str) -> None:
    """The worker process's main: groups in, (results, tallies) out, until the pipe closes
    or None arrives. Signals meant for the serving process (Ctrl-C to the process group,
    SIGTERM) are left to it: it stops the worker when it has committed what it holds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    store = open_store(db, Access.WRITE)
    metrics = worker_metrics()
    try:
        while True:
            try:
                group = conn.recv()
            except EOFError:
                return
            if group is None:
                return
            try:
                results = handle(store, metrics, group)
            except Exception as exc:  # a bug must not cost a restart per group: answer it
                log.error("ingest worker failed on a group: %s", redact(exc))
                results = [Failed("internal error in the ingest worker", RESTART_RETRY)] * len(
                    group
                )
            conn.send((results, metrics.take()))
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        store.close()


class ProcessWriter(GroupQueue):
    """The bounded group queue of the serving process, committing through a worker
    process (see the module docstring). ``merge`` receives each group's tallies on the
    event loop, before the group's futures resolve."""

    def __init__(self, db: str, merge: Callable[[Taken], None], **kwargs: Any) -> None:
        self._db = db
        self._merge = merge
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._starting = threading.Lock()  # start() (event loop) and the first group
        super().__init__(**kwargs)

    @property
    def pid(self) -> int | None:
        """The worker process's id (for operations and tests)."""
        return int(self._proc.pid) if self._proc is not None else None

    def start(self) -> None:
        """Starts the worker (serve calls it once its ports are bound; a group arriving
        before starts it too)."""
        with self._starting:
            if self._proc is None:
                self._start()

    def _start(self) -> None:
        mine, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=serve, args=(theirs, self._db), name="fleetpulse-ingest", daemon=True
        )
        proc.start()
        theirs.close()
        self._proc, self._conn = proc, mine
        log.info("ingest worker started (pid %s)", proc.pid)

    def submit(
        self, device_id: str, records: int, raw: bytes, site: str, os: str, now: float
    ) -> asyncio.Future[Result]:
        """Queues a report's request bytes; see GroupQueue._enqueue."""
        return self._enqueue(device_id, records, (raw, site, os, now))

    def _commit(self, group: list[_Item]) -> None:
        if self._proc is None:
            self.start()
        elif not self._proc.is_alive():  # it died between groups: nothing of ours was with it
            self._restart(EOFError("exited while idle"))
        assert self._conn is not None
        try:
            self._conn.send([item[2] for item in group])
            results, taken = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._restart(exc)
            failed = Failed(
                "the collector's ingest worker stopped; nothing of this report is"
                " acknowledged, send it again",
                RESTART_RETRY,
            )
            for _, _, _, fut, loop in group:
                loop.call_soon_threadsafe(_set_result, fut, failed)
            return
        loop = group[0][4]
        loop.call_soon_threadsafe(self._merge, taken)
        for (_, _, _, fut, loop), result in zip(group, results, strict=True):
            loop.call_soon_threadsafe(_set_result, fut, result)

    def _restart(self, exc: BaseException) -> None:
        proc = self._proc
        proc.join(timeout=5)
        log.error(
            "ingest worker (pid %s) stopped (%s, exit code %s); starting another",
            proc.pid,
            type(exc).__name__,
            proc.exitcode,
        )
        if self._conn is not None:
            self._conn.close()
        self._start()

    def close(self) -> None:
        """Commits everything queued so far, then stops the worker."""
        self._stop_thread()
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the worker is gone already
                self._conn.send(None)
            self._conn.close()
        if self._proc is not None:
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._proc.kill()
