"""A token's --max-uses holds with several collector processes on one store: the use is
taken by one conditional update inside the enrolment transaction, never read then written."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleetpulse.agent.errors import EnrollmentError
from fleetpulse.agent.sender import enroll
from fleetpulse.collector.store.base import open_store
from fleetpulse.contract.records import DeviceFacts
from tests.procs import CollectorProc, cli, start_collector

pytestmark = pytest.mark.timeout(180)

COLLECTORS = 3
ATTEMPTS = 36
MAX_USES = 10


@pytest.fixture
def collectors(db_url: str) -> Iterator[list[CollectorProc]]:
    started: list[CollectorProc] = []
    try:
        for _ in range(COLLECTORS):
            started.append(start_collector(db_url))
        yield started
    finally:
        for c in started:
            c.stop()


def _attempt(target: str, token: str, n: int, barrier: threading.Barrier) -> str:
    facts = DeviceFacts(f"race-{n}", "linux", "6.8", "0.1.0", hardware_id=f"hw-{n}")
    barrier.wait()
    try:
        enroll(target, token, facts, deadline=60)
    except EnrollmentError as exc:
        return str(exc)
    return "enrolled"


def test_a_ten_use_token_enrolls_exactly_ten_devices_across_collectors(
    db_url: str, collectors: list[CollectorProc]
) -> None:
    made = cli(
        "fleetpulse-collector",
        "token",
        "create",
        "--site",
        "hq",
        "--max-uses",
        str(MAX_USES),
        "--db",
        db_url,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    barrier = threading.Barrier(ATTEMPTS)
    with ThreadPoolExecutor(ATTEMPTS) as pool:
        results = list(
            pool.map(
                lambda n: _attempt(collectors[n % COLLECTORS].grpc, token, n, barrier),
                range(ATTEMPTS),
            )
        )
    refused = [r for r in results if r != "enrolled"]
    assert len(results) - len(refused) == MAX_USES, results
    for r in refused:  # the status an exhausted token always had
        assert "UNAUTHENTICATED" in r and f"is used up ({MAX_USES} uses)" in r, r
    store = open_store(db_url)
    try:
        assert [t.uses for t in store.tokens()] == [MAX_USES]
        assert len(store.device_rows(time.time())) == MAX_USES
    finally:
        store.close()
