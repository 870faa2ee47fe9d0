"""Data retention: old events pruned in batches by event time on SQLite and PostgreSQL,
sign-in contributors with their sign-ins, the counter on a real ``serve``'s /metrics, and
the report's warning when its period starts before the oldest kept sign-ins."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.retention import RetentionPolicy
from fleetpulse.collector.store.sql import SqlStore
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    Contributor,
    DeviceFacts,
    EndReason,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)
from tests.procs import cli, scrape, start_collector, value

DAY = 86400.0
DEVICE = "0d5a7e0e-7c52-4d0b-9b57-1c1f3b0e8a11"
FACTS = DeviceFacts("pc-0107", "windows", "10.0.22631", "1.0")
SLOW = (Contributor("gp_extension", "Drive Maps", 1648.0), Contributor("profile", "temporary", 8.5))


def _signin(n: int, started_at: float) -> SigninRecord:
    return SigninRecord(
        session_id=f"s{n}",
        boot_id=f"b{n}",
        user_hash="h",
        started_at=started_at,
        state=SigninState.COMPLETE,
        total_seconds=60.0,
        contributors=SLOW,
    )


def seed(store: Store, now: float, old: int, recent: int) -> None:
    """``old`` events of each kind 500 days before ``now`` and ``recent`` one hour before."""
    records: list[SigninRecord | SigninEndRecord | BootRecord | AppUsageRecord] = []
    for n in range(old + recent):
        t = now - 500 * DAY - n if n < old else now - 3600 - n
        records += [
            _signin(n, t),
            SigninEndRecord(f"s{n}", f"b{n}", t + 600, EndReason.SIGN_OUT),
            BootRecord(boot_id=f"b{n}", boot_time=t, total_seconds=30.0),
            AppUsageRecord(interval_start=t, interval_seconds=60.0, app="teams.exe"),
        ]
    incoming = [Incoming(seq, now, r) for seq, r in enumerate(records, 1)]
    (outcome,) = store.ingest([Report(DEVICE, FACTS, incoming, now)], now)
    assert len(outcome.accepted) == len(records)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", time.time(), None, None)
    s.enroll("th", DEVICE, "sh", "pc-0107", "windows", "10", "1.0", "hw", "m", time.time())
    yield s
    s.close()


def test_old_events_are_pruned_in_batches_and_recent_ones_kept(store: Store) -> None:
    now = time.time()
    seed(store, now, old=5, recent=3)
    for kind in ("signin", "signin_end", "boot", "app_usage"):
        batches = [store.prune_batch(kind, now - 400 * DAY, 2) for _ in range(4)]
        assert batches == [2, 2, 1, 0], kind
    assert len(store.signins_between(0, now)) == 3
    assert [r.ended_at is not None for r in store.sessions_between(0, now)] == [True] * 3
    assert len(store.boots_between(0, now)) == 3
    assert store.top_apps(now - 2 * DAY, 5) == ["teams.exe"]
    assert store.top_apps(0, 5) == ["teams.exe"]  # the recent rows are still there


def test_contributors_go_with_their_sign_ins(store: Store) -> None:
    now = time.time()
    seed(store, now, old=3, recent=2)
    assert len(store.contributors_between(0, now)) == 5 * len(SLOW)
    assert store.prune_batch("signin", now - 400 * DAY, 5000) == 3
    kept = store.contributors_between(0, now)
    assert len(kept) == 2 * len(SLOW)
    assert all(c.started_at > now - DAY for c in kept)
    # none left behind for the pruned sign-ins (the read above joins on sign-ins)
    assert isinstance(store, SqlStore)
    (left,) = store.db.read("SELECT COUNT(*) FROM signin_contributors")
    assert left[0] == 2 * len(SLOW)


def test_the_retention_in_effect_is_recorded(store: Store) -> None:
    assert store.retention_recorded() == {}
    store.record_retention(RetentionPolicy(signin=400 * DAY, boot=400 * DAY, app_usage=90 * DAY))
    store.record_retention(RetentionPolicy(signin=30 * DAY, boot=400 * DAY, app_usage=90 * DAY))
    assert store.retention_recorded() == {
        "signin": 30 * DAY,
        "boot": 400 * DAY,
        "app_usage": 90 * DAY,
    }


def test_serve_prunes_and_counts_on_metrics(db_url: str) -> None:
    now = time.time()
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", now, None, None)
    s.enroll("th", DEVICE, "sh", "pc-0107", "windows", "10", "1.0", "hw", "m", now)
    seed(s, now, old=4, recent=2)
    s.close()
    proc = start_collector(
        db_url, "--retain-signins", "30d", "--retain-boots", "400d", "--retain-app-usage", "2h"
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            m = scrape(proc.metrics_url)
            pruned = {
                k: value(m, "fleetpulse_store_pruned_records_total", kind=k)
                for k in ("signin", "signin_end", "boot", "app_usage")
            }
            if pruned == {"signin": 4.0, "signin_end": 4.0, "boot": 4.0, "app_usage": 4.0}:
                break
            assert time.monotonic() < deadline, pruned
            time.sleep(0.2)
        assert value(m, "fleetpulse_store_retention_seconds", kind="signin") == 30 * DAY
        # a sign-in's end is kept as long as sign-ins: no option of its own
        assert value(m, "fleetpulse_store_retention_seconds", kind="signin_end") == 30 * DAY
        assert value(m, "fleetpulse_store_retention_seconds", kind="app_usage") == 2 * 3600
    finally:
        assert proc.stop() == 0
    s = open_store(db_url)
    try:
        assert len(s.signins_between(0, now)) == 2
        assert len(s.boots_between(0, now)) == 2
        assert s.retention_recorded()["signin"] == 30 * DAY
    finally:
        s.close()


@pytest.mark.parametrize("fmt", ["md", "html", "json", "csv"])
def test_report_warns_when_the_period_starts_before_the_kept_sign_ins(
    store: Store, db_url: str, fmt: str
) -> None:
    store.record_retention(RetentionPolicy(signin=30 * DAY, boot=400 * DAY, app_usage=90 * DAY))
    oldest = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * DAY))
    past = cli("fleetpulse-collector", "report", "--db", db_url, "--since", "60d", "--format", fmt)
    assert past.returncode == 0, past.stderr
    line = "the period starts before the oldest kept sign-ins (30 days): figures before " + oldest
    assert line in past.stderr
    if fmt == "json":
        (warning,) = json.loads(past.stdout)["warnings"]
        assert warning.startswith(line)
    elif fmt != "csv":  # plain CSV is one row per sign-in: the warning is on stderr only
        assert line in past.stdout
    inside = cli("fleetpulse-collector", "report", "--db", db_url, "--since", "7d", "--format", fmt)
    assert inside.returncode == 0, inside.stderr
    assert "oldest kept" not in inside.stderr + inside.stdout


def test_a_zero_retention_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "fleetpulse-collector",
        "serve",
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        "--retain-boots",
        "0d",
    )
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        "fleetpulse-collector: error: --retain-boots: must be more than 0, got '0d'"
    ]
