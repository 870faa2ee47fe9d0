"""The ingest worker's group handling (worker.handle, in this process) and the serving
process's merge of its tallies: results per report, metrics counted once, names capped by
the serving process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from multiprocessing import Pipe, get_context
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from fleetpulse.collector import worker
from fleetpulse.collector.auth import digest
from fleetpulse.collector.metrics import AppLabels, ContributorLabels, IngestMetrics
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.worker import Failed, Rejected, Stored, handle, serve, worker_metrics
from fleetpulse.contract.records import AppUsageRecord, BootRecord, Culprit, DeviceFacts, Record
from fleetpulse.contract.serde import record_to_bytes, report_request

NOW = 1_800_000_000.0


def _raw(records: list[tuple[int, Record]]) -> bytes:
    spooled = [(seq, record_to_bytes(r, NOW - 30)) for seq, r in records]
    return report_request("d1", DeviceFacts("h", "linux", "", ""), spooled, NOW).SerializeToString()


def _app(name: str, launches: int = 1) -> AppUsageRecord:
    return AppUsageRecord(NOW - 600, 300.0, name, launches, 10.0, 5.0)


def test_a_group_gives_one_result_per_report_and_counts_once(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    store.create_token("t", digest("fpt_x"), "north", NOW, None, None)
    store.enroll(digest("fpt_x"), "d1", digest("s"), "h", "linux", "", "", "", "", NOW)
    worker = worker_metrics()
    good = _raw([(1, _app("Word")), (2, _app("Excel", 3))])
    bad = _raw([(3, _app("Teams")), (4, AppUsageRecord(NOW - 600, 300.0, ""))])  # no app name
    group = [(raw, "north", "linux", NOW) for raw in (good, bad, b"\xff\xff", good)]
    try:
        results = handle(store, worker, group)
    finally:
        store.close()

    assert results[0] == Stored(accepted=2, duplicates=0)
    assert isinstance(results[1], Rejected)
    assert [seq for seq, _ in results[1].problems] == [4]
    assert "app is empty" in results[1].problems[0][1]
    assert results[2] == Rejected(
        [(0, "request is not a valid fleetpulse.v1.ReportRequest message")]
    )
    assert results[3] == Stored(accepted=0, duplicates=2)  # the same report again: its round 2

    serving = IngestMetrics(CollectorRegistry(), AppLabels(top_n=1))
    serving.merge(worker.take())
    records = serving.records.series
    assert records[("app_usage", "accepted")] == 2
    assert records[("app_usage", "duplicate")] == 2
    assert records[("app_usage", "rejected")] == 1  # the named record only
    # names are capped by the serving process: one admitted, the rest "other"
    assert serving.launches.series == {("word",): 1.0, ("other",): 3.0}
    assert worker.take()["fleetpulse_ingest_records"] == {}  # taken: counted once


def test_boot_culprit_names_from_the_worker_are_capped_by_the_serving_process(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    store.create_token("t", digest("fpt_x"), "north", NOW, None, None)
    store.enroll(digest("fpt_x"), "d1", digest("s"), "h", "linux", "", "", "", "", NOW)
    worker = worker_metrics()
    culprits = tuple(Culprit(f"Driver{i}", "driver", 2.0 + i) for i in range(3))
    boot = BootRecord("b1", NOW - 900, 60.0, culprits=culprits)
    try:
        results = handle(store, worker, [(_raw([(1, boot)]), "north", "windows", NOW)])
    finally:
        store.close()

    assert results == [Stored(accepted=1, duplicates=0)]
    serving = IngestMetrics(
        CollectorRegistry(), AppLabels(), ContributorLabels(), ContributorLabels(top_n=1)
    )
    serving.merge(worker.take())
    # the first name seen is admitted, the other two pooled; no second is lost
    assert serving.culprits.series == {("driver", "Driver0"): 2.0, ("driver", "other"): 7.0}


def _enrolled_store(path: Path) -> str:
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.migrate()
    store.create_token("t", digest("fpt_x"), "north", NOW, None, None)
    store.enroll(digest("fpt_x"), "d1", digest("s"), "h", "linux", "", "", "", "", NOW)
    store.close()
    return url


def test_groups_sent_back_to_back_are_answered_in_order_each_after_its_commit(
    tmp_path: Path,
) -> None:
    """The worker's main thread prepares group n+1 while its store thread stores group n:
    three groups sent without waiting come back in the order sent, each answer only once
    its records are readable by another connection (committed)."""
    url = _enrolled_store(tmp_path / "s.db")
    ctx = get_context("spawn")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(theirs, url))  # the worker process as serve starts it
    proc.start()
    groups = [
        [(_raw([(1, _app("Word"))]), "north", "linux", NOW)],
        [(b"\xff", "north", "linux", NOW), (_raw([(2, _app("Excel"))]), "north", "linux", NOW)],
        [(_raw([(3, _app("Teams")), (1, _app("Word"))]), "north", "linux", NOW)],
    ]
    for group in groups:
        mine.send(group)
    reader = sqlite3.connect(tmp_path / "s.db")
    try:
        answers = []
        for stored_after in (1, 2, 3):
            results, _ = mine.recv()
            answers.append(results)
            # acknowledged means committed: another connection reads the rows already (the
            # next group may have committed too by the time it reads: at least, not exactly)
            (count,) = reader.execute("SELECT COUNT(*) FROM app_usage").fetchone()
            assert count >= stored_after
        mine.send(None)
        proc.join(timeout=30)
    finally:
        reader.close()
    assert proc.exitcode == 0
    assert answers[0] == [Stored(accepted=1, duplicates=0)]
    assert isinstance(answers[1][0], Rejected) and answers[1][1] == Stored(1, 0)
    assert answers[2] == [Stored(accepted=1, duplicates=1)]  # seq 1 is group 1's record


def test_a_group_that_fails_in_preparation_is_answered_in_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while preparing a group (not a bad report: those are Rejected) answers that
    group as an internal error, after the group before it and before the one after."""
    url = _enrolled_store(tmp_path / "s.db")
    real = worker.prepare

    def prepare(group: list[worker.Raw]) -> worker.Prepared:
        if group[0][1] == "boom":
            raise RuntimeError("a bug")
        return real(group)

    monkeypatch.setattr(worker, "prepare", prepare)
    mine, theirs = Pipe()
    store = open_store(url, Access.WRITE)
    thread = threading.Thread(target=worker.run, args=(theirs, store))  # serve's loop
    thread.start()
    for site, seq in (("north", 1), ("boom", 2), ("north", 3)):
        mine.send([(_raw([(seq, _app("Word"))]), site, "linux", NOW)])
    answers = [mine.recv()[0] for _ in range(3)]
    mine.send(None)
    thread.join(timeout=30)
    store.close()
    assert answers[0] == [Stored(1, 0)]
    assert isinstance(answers[1][0], Failed) and "internal error" in answers[1][0].message
    assert answers[2] == [Stored(1, 0)]


class _DiesAfterCheck(threading.Condition):
    """ProcessWriter's state lock; once armed, the grouping thread's next release of it
    kills the worker (SIGKILL) and waits until its receiver has answered what it held: the
    worker dies between the grouping thread's look at it and the send."""

    def __init__(self, writer: worker.ProcessWriter) -> None:
        super().__init__()
        self.writer = writer
        self.armed = False

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[arg-type]
        if self.armed and threading.current_thread().name == "fleetpulse-writer":
            self.armed = False
            receiver = self.writer._receiver
            os.kill(self.writer.pid or 0, signal.SIGKILL)
            assert receiver is not None
            receiver.join(timeout=20)


def test_a_worker_dying_between_the_check_and_the_send_still_answers_the_group(
    tmp_path: Path,
) -> None:
    """A group whose worker dies after the grouping thread found it alive is answered
    UNAVAILABLE (not left waiting for ever), and the next group goes to a new worker."""
    url = _enrolled_store(tmp_path / "s.db")

    async def main() -> list[object]:
        writer = worker.ProcessWriter(url, lambda taken: None, linger=0.0)
        state = _DiesAfterCheck(writer)
        writer._state = state
        try:
            writer.start()
            answers: list[object] = []
            for seq in (1, 2, 3):
                state.armed = seq == 2
                raw = _raw([(seq, _app("Word"))])
                fut = writer.submit("d1", 1, raw, "north", "linux", NOW)
                answers.append(await asyncio.wait_for(fut, timeout=30))
            return answers
        finally:
            await asyncio.to_thread(writer.close)

    first, second, third = asyncio.run(main())
    assert first == Stored(1, 0)
    assert isinstance(second, Failed) and "send it again" in second.message
    assert third == Stored(1, 0)


def test_a_worker_that_cannot_open_the_database_answers_each_group_and_opens_it_later(
    tmp_path: Path,
) -> None:
    """A worker started while the database cannot be opened stays up: each group is
    answered Failed with the reason and a retry hint, and once the database can be opened
    the next group is stored."""
    path = tmp_path / "s.db"
    ctx = get_context("spawn")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(theirs, f"sqlite:///{path}"))
    proc.start()
    theirs.close()  # the worker's end is its own: a worker that dies is EOF here
    try:
        mine.send([(_raw([(1, _app("Word"))]), "north", "linux", NOW)] * 2)
        first, _ = mine.recv()
        assert proc.is_alive()
        _enrolled_store(path)  # the database exists from now on
        mine.send([(_raw([(1, _app("Word"))]), "north", "linux", NOW)])
        second, _ = mine.recv()
        mine.send(None)
        proc.join(timeout=30)
    finally:
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == 0
    assert len(first) == 2 and all(isinstance(r, Failed) for r in first)
    failed = first[0]
    assert isinstance(failed, Failed)
    assert failed.message.startswith("the ingest worker cannot open the database: ")
    assert str(path) in failed.message and failed.retry_after > 0
    assert second == [Stored(1, 0)]


def test_a_hung_worker_is_killed_at_the_stop_and_what_it_held_is_answered(tmp_path: Path) -> None:
    """close() with a worker that answers nothing (stopped with SIGSTOP) returns within
    its timeout instead of waiting minutes: the worker is killed, the reports it held and
    those still queued are answered UNAVAILABLE (none was acknowledged), nothing restarts."""
    url = _enrolled_store(tmp_path / "s.db")

    async def main() -> tuple[list[object], float, int | None]:
        writer = worker.ProcessWriter(url, lambda taken: None, linger=0.0)
        writer.start()
        first = writer.submit("d1", 1, _raw([(1, _app("Word"))]), "north", "linux", NOW)
        assert await asyncio.wait_for(first, timeout=30) == Stored(1, 0)
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        held = [  # more groups than the two the worker may hold: some wait in the queue
            writer.submit("d1", 1, _raw([(seq, _app("Word"))]), "north", "linux", NOW)
            for seq in range(2, 8)
        ]
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await asyncio.to_thread(writer.close, 2.0)
        took = time.monotonic() - t0
        answers = [await asyncio.wait_for(fut, timeout=5) for fut in held]
        return answers, took, writer.pid if writer.pid != pid else None

    answers, took, new_pid = asyncio.run(main())
    assert took < 10, took
    assert new_pid is None  # the stop started no new worker
    assert all(isinstance(a, Failed) and "send it again" in a.message for a in answers), answers
    with sqlite3.connect(tmp_path / "s.db") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM app_usage").fetchone()
    assert count == 1  # only the first report was stored (and acknowledged)


def test_a_worker_that_cannot_be_started_fails_its_group_and_the_next_group_tries_again(
    tmp_path: Path,
) -> None:
    """Starting the worker raising (no process can be created, no memory) answers that
    group UNAVAILABLE; the grouping thread lives on and the next group starts a worker."""
    url = _enrolled_store(tmp_path / "s.db")

    async def main() -> list[object]:
        writer = worker.ProcessWriter(url, lambda taken: None, linger=0.0)
        real = writer._start
        refusals = [OSError(11, "Resource temporarily unavailable")]

        def start() -> None:
            if refusals:
                raise refusals.pop()
            real()

        writer._start = start  # type: ignore[method-assign]
        try:
            answers = []
            for seq in (1, 2):
                fut = writer.submit("d1", 1, _raw([(seq, _app("Word"))]), "north", "linux", NOW)
                answers.append(await asyncio.wait_for(fut, timeout=30))
            return answers
        finally:
            await asyncio.to_thread(writer.close)

    first, second = asyncio.run(main())
    assert isinstance(first, Failed) and "could not start its ingest worker" in first.message
    assert second == Stored(1, 0)
