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
import collections
import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import CollectorRegistry

from fleetpulse.collector import serde
from fleetpulse.collector.errors import InvalidReport, StoreUnavailable
from fleetpulse.collector.metrics import AppLabels, ContributorLabels, IngestMetrics
from fleetpulse.collector.model import Outcome, Report
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.tally import Labels
from fleetpulse.collector.validation import rejected_by_kind, validate
from fleetpulse.collector.writer import GroupQueue, _Item, answer, store_group

log = logging.getLogger("fleetpulse.collector.worker")

#: Seconds an agent is told to wait after the worker died under its report (a restart takes
#: about a second: a new interpreter imports the collector and opens the database).
RESTART_RETRY = 1.0
#: Seconds ``ProcessWriter.close`` waits for the worker to answer what it holds before it
#: kills it: within the example unit's TimeoutStopSec=30 (docs/operations.md) together with
#: the gRPC server's 10 s grace. A healthy worker answers in milliseconds; one that is hung
#: (stopped, blocked on a lock) is killed, and what it held is answered UNAVAILABLE.
STOP_TIMEOUT = 15.0
#: Groups sent to the worker and not yet answered, at most: one being stored, the next
#: waiting in the pipe.
IN_FLIGHT = 2


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
#: The answer to a report the worker held when it stopped (or was killed at the stop).
_STOPPED = Failed(
    "the collector's ingest worker stopped; nothing of this report is acknowledged, send it again",
    RESTART_RETRY,
)
#: The answer when no worker could be started (the next group tries again).
_NOT_STARTED = Failed(
    "the collector could not start its ingest worker; nothing of this report is"
    " acknowledged, send it again",
    RESTART_RETRY,
)
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


@dataclass(slots=True)
class Prepared:
    """A group decoded and validated (``prepare``), ready to be stored: the valid reports
    with their places in the group, the refusals by place, and the records refused per
    kind (counted when the group is stored, by the thread that owns the tallies)."""

    group: list[Raw]
    valid: list[tuple[int, Report]]
    refused: dict[int, Result]
    rejected: list[dict[str, int]]


def prepare(group: list[Raw]) -> Prepared:
    """Decodes and validates every report of ``group`` (no store, no tallies)."""
    out = Prepared(group, [], {}, [])
    for i, (raw, _, _, now) in enumerate(group):
        try:
            report = serde.report_from_bytes(raw)
        except InvalidReport as err:
            out.refused[i] = Rejected(err.problems)
            continue
        try:
            validate(report, now)
        except InvalidReport as err:
            out.rejected.append(rejected_by_kind(report, err))
            out.refused[i] = Rejected(err.problems)
            continue
        out.valid.append((i, report))
    return out


def store_prepared(store: Store, metrics: IngestMetrics, prepared: Prepared) -> list[Result]:
    """Stores the valid reports of a prepared group in one transaction and counts the group
    into ``metrics``. One Result per report of the group, in order."""
    for by_kind in prepared.rejected:
        metrics.rejected(by_kind)
    results: list[Result | None] = [prepared.refused.get(i) for i in range(len(prepared.group))]
    if prepared.valid:
        outcomes = store_group(store, [r for _, r in prepared.valid], time.time)
        for (i, _), outcome in zip(prepared.valid, outcomes, strict=True):
            results[i] = _result(metrics, outcome, prepared.group[i])
    return [r if r is not None else Failed("internal error", RESTART_RETRY) for r in results]


def handle(store: Store, metrics: IngestMetrics, group: list[Raw]) -> list[Result]:
    """Decodes, validates and stores one group; counts into ``metrics``. One Result per
    report, in order."""
    return store_prepared(store, metrics, prepare(group))


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
    SIGTERM) are left to it: it stops the worker when it has committed what it holds.

    Two threads overlap consecutive groups: this one receives and prepares (decodes,
    validates) group n+1 while the store thread stores group n, whose statements and
    ``COMMIT`` (the fsync, or PostgreSQL's answer) run without the GIL. Answers leave in
    the order the groups came; each after its group's commit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    store = _open(conn, db)
    if store is None:
        return
    try:
        run(conn, store)
    finally:
        store.close()


def _open(conn: Connection, db: str) -> Store | None:
    """The worker's store, opened for writing. While the database cannot be opened (down,
    refusing connections: a worker restarted during an outage), each group received is
    answered Failed with the reason (redacted, ``StoreUnavailable``'s retry hint) and the
    store is opened again when the next one arrives, so the worker neither dies with a
    traceback nor costs a new interpreter per group. None when the pipe closes or None
    arrives first."""
    while True:
        try:
            return open_store(db, Access.WRITE)
        except Exception as exc:  # ConfigError, StoreUnavailable, the driver's own
            why = f"the ingest worker cannot open the database: {redact(exc)}".splitlines()[0]
            log.error("%s", why)
        try:
            group = conn.recv()
            if group is None:
                return None
            failed = Failed(why, StoreUnavailable(why).retry_after)
            conn.send(([failed] * len(group), {}))
            conn.poll(None)  # until the next group (left in the pipe for run) or EOF
        except (EOFError, OSError):
            return None


def run(conn: Connection, store: Store) -> None:
    """The worker's loop over ``conn`` into ``store`` (see ``serve``), until the pipe closes
    or None arrives; every group received is answered before it returns."""
    ready: queue.Queue[Prepared | list[Raw] | None] = queue.Queue(maxsize=1)
    storing = threading.Thread(
        target=_store_loop, args=(conn, store, ready), name="fleetpulse-ingest-store"
    )
    storing.start()
    try:
        while True:
            try:
                group = conn.recv()
            except (EOFError, OSError):
                return
            if group is None:
                return
            try:
                ready.put(prepare(group))
            except Exception as exc:  # a bug must not cost a restart per group: answer it
                log.error("ingest worker failed on a group: %s", redact(exc))
                ready.put(group)
    finally:
        ready.put(None)
        storing.join()


def _store_loop(
    conn: Connection, store: Store, ready: queue.Queue[Prepared | list[Raw] | None]
) -> None:
    """The store thread: stores each prepared group, answers it; a bare group (its
    preparation failed) is answered as an internal error. Ends at None; keeps taking
    groups after the pipe broke, so that ``serve`` is never blocked on ``ready``."""
    metrics = worker_metrics()
    gone = False  # the serving process is gone: take what comes, store nothing more
    while (item := ready.get()) is not None:
        if gone:
            continue
        if isinstance(item, Prepared):
            try:
                results = store_prepared(store, metrics, item)
            except Exception as exc:  # as in serve: answer, do not restart
                log.error("ingest worker failed on a group: %s", redact(exc))
                results = _internal_error(len(item.group))
        else:
            results = _internal_error(len(item))
        try:
            conn.send((results, metrics.take()))
        except OSError:  # broken pipe; serve ends at the pipe's EOF and sends None
            gone = True


def _internal_error(n: int) -> list[Result]:
    return [Failed("internal error in the ingest worker", RESTART_RETRY)] * n


class ProcessWriter(GroupQueue):
    """The bounded group queue of the serving process, committing through a worker
    process (see the module docstring). ``merge`` receives each group's tallies on the
    event loop, before the group's futures resolve.

    Pipelined: the grouping thread sends a group as soon as it is formed, with up to
    ``in_flight`` groups sent and not yet answered, so the worker finds its next group
    waiting in the pipe when it finishes one (no idle hand-off between groups); a receiver
    thread reads the answers, in the order the worker handles the groups (sent order), and
    resolves them. A group's reports are acknowledged only from the worker's answer for that
    group, sent after its commit."""

    def __init__(
        self, db: str, merge: Callable[[Taken], None], in_flight: int = IN_FLIGHT, **kwargs: Any
    ) -> None:
        self._db = db
        self._merge = merge
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._receiver: threading.Thread | None = None
        self._starting = threading.Lock()  # start() (event loop) and the first group
        # groups sent to the current worker and not answered, oldest first, with the time
        # each was sent; ``_dead``: its receiver saw the pipe break (a new worker is needed)
        self._sent: collections.deque[tuple[list[_Item], float]] = collections.deque()
        self._dead = False
        self._closing = False  # close() has begun: a dead worker is not replaced any more
        self._state = threading.Condition()
        self._slots = threading.BoundedSemaphore(in_flight)
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
        self._proc, self._conn, self._dead = proc, mine, False
        self._receiver = threading.Thread(
            target=self._receive, args=(mine,), name="fleetpulse-ingest-answers", daemon=True
        )
        self._receiver.start()
        log.info("ingest worker started (pid %s)", proc.pid)

    def submit(
        self, device_id: str, records: int, raw: bytes, site: str, os: str, now: float
    ) -> asyncio.Future[Result]:
        """Queues a report's request bytes; see GroupQueue._enqueue."""
        return self._enqueue(device_id, records, (raw, site, os, now))

    def _commit(self, group: list[_Item]) -> None:
        """Sends ``group`` to the worker once fewer than ``in_flight`` groups are with it;
        the receiver answers it. A worker found dead (its receiver saw the pipe break, or
        it exited between groups) is replaced first: nothing unanswered was with it. If no
        worker can be started (no process, no memory), the group is answered UNAVAILABLE
        and the next group tries again: the grouping thread never dies of it."""
        self._slots.acquire()
        try:
            conn = self._claim(group)
        except Exception as exc:
            log.error("cannot start the ingest worker: %s", redact(exc))
            self._fail(group, _NOT_STARTED)
            return
        if conn is None:
            self._fail(group, _STOPPED)
            return
        # a broken pipe: the receiver sees EOF and fails every group sent
        with contextlib.suppress(OSError):
            conn.send([item[2] for item in group])

    def _claim(self, group: list[_Item]) -> Connection | None:
        """Records ``group`` as sent to a live worker (started or replaced as needed) and
        answers that worker's pipe; None when stopping and the worker is gone."""
        with self._starting:
            if self._proc is None:
                self._start()
            while True:
                # the look at the worker and the append under one hold of the lock: a
                # receiver that sees the pipe break after it fails this group too
                with self._state:
                    if not self._dead and self._proc.is_alive():
                        self._sent.append((group, time.monotonic()))
                        return self._conn
                    # wait until the old receiver has failed what the worker held
                    self._state.wait_for(lambda: not self._sent)
                    if self._closing:  # stopping: no new worker for what is left
                        return None
                self._restart("exited" if self._proc.exitcode is not None else "pipe broken")

    def _fail(self, group: list[_Item], failed: Failed) -> None:
        """Answers a group that was never sent to a worker."""
        answer(group, [failed] * len(group))
        self._done(group, time.monotonic())
        self._slots.release()

    def _receive(self, conn: Connection) -> None:
        """The receiver thread of one worker: answers each group in sent order; when the
        pipe breaks (the worker died), answers every group sent to it UNAVAILABLE."""
        while True:
            try:
                results, taken = conn.recv()
            except (EOFError, OSError):
                break
            with self._state:
                group, started = self._sent.popleft()
                self._state.notify_all()
            group[0][4].call_soon_threadsafe(self._merge, taken)
            answer(group, results)
            self._done(group, started)
            self._slots.release()
        failed = _STOPPED
        with self._state:
            lost = list(self._sent)
            self._sent.clear()
            self._dead = True
            self._state.notify_all()
        for group, started in lost:
            answer(group, [failed] * len(group))
            self._done(group, started)
            self._slots.release()

    def _restart(self, why: str) -> None:
        """Replaces a dead worker: its receiver has answered everything sent to it."""
        proc = self._proc
        proc.join(timeout=5)
        if proc.is_alive():  # the pipe broke under a live worker: it cannot be trusted
            proc.kill()
            proc.join(timeout=5)
        log.error(
            "ingest worker (pid %s) stopped (%s, exit code %s); starting another",
            proc.pid,
            why,
            proc.exitcode,
        )
        self._close_pipe()
        self._start()

    def _close_pipe(self) -> None:
        """Waits for the receiver (it ends at the pipe's EOF: the worker has exited), then
        closes the serving process's end (never under a thread reading it)."""
        if self._receiver is not None:
            self._receiver.join(timeout=10)
        if self._conn is not None:
            self._conn.close()

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Commits everything queued so far, then stops the worker: all within ``timeout``
        seconds. A worker that has not answered by then is killed; the reports it held are
        answered UNAVAILABLE (none of them was acknowledged) and logged."""
        deadline = time.monotonic() + timeout
        self._closing = True
        self._stop_thread(timeout)
        with self._state:  # every group sent is answered (or failed) before the pipe closes
            done = self._state.wait_for(
                lambda: not self._sent, timeout=max(0.0, deadline - time.monotonic())
            )
            held = sum(len(group) for group, _ in self._sent)
        if self._proc is not None and not done:
            log.error(
                "ingest worker (pid %s) did not answer within %.0f s of the stop; killing it"
                " (%d report(s) unacknowledged: their agents send them again)",
                self._proc.pid,
                timeout,
                held,
            )
            self._proc.kill()  # its receiver sees the pipe break and answers what it held
        elif self._conn is not None:
            with contextlib.suppress(OSError):  # the worker is gone already
                self._conn.send(None)
        if self._proc is not None:
            self._proc.join(timeout=max(1.0, deadline - time.monotonic()))
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
        self._thread.join(timeout=5)  # a group it held when the worker was killed is answered
        self._close_pipe()
