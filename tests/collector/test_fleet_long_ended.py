"""The refresh's count of 30-minute sign-ins that ended in the last hour (both stores): the
edges of the count, and the plan that reads only long sign-ins by their end time through
signins_long_by_end (migration 9) instead of every sign-in of the last 25 hours."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.fleet import LONG_ENDED
from tests.collector.test_fleet_waiting import done
from tests.collector.test_store import NOW, enrolled, report

# a fleet big enough that reading every recent sign-in would cost more than the index
DEVICES = 2000
FILL_DEVICES = (
    "INSERT INTO devices (device_id, secret_hash, site, hostname, os, os_version,"
    " agent_version, hardware_id, machine_id, enrolled_at, last_seen)"
    " SELECT 'd' || CAST(n AS TEXT), '', 'north', 'h', 'windows', '1', '1', 'hw', 'm', 0, 0"
    " FROM nums"
)
# each device: two short sign-ins in the last day, one long one of 1 in 50 devices
FILL_SIGNINS = (
    "INSERT INTO signins (device_id, seq, boot_id, session_id, user_hash, started_at,"
    " total_seconds, phases, received_at)"
    " SELECT 'd' || CAST(n AS TEXT), k, 'b', 's' || CAST(k AS TEXT), 'u', ? - 3600.0 * k - n,"
    " CASE WHEN k = 1 AND n = (n / 50) * 50 THEN 2400.0 ELSE 40.0 END, '{}', 0"
    " FROM nums CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2) ks"
)
NUMS_SQLITE = (
    f"WITH RECURSIVE nums(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM nums WHERE n < {DEVICES})"
)
NUMS_POSTGRES = f"WITH nums(n) AS (SELECT generate_series(1, {DEVICES}))"


def test_the_edges_of_the_long_ended_count(store: Store) -> None:
    enrolled(store)
    store.ingest(
        [
            report(
                "dev-1",
                done(1, NOW - 5400, 1800.0),  # exactly 30 minutes, ended exactly an hour ago
                done(2, NOW - 5000, 1799.5),  # just short of 30 minutes
                done(3, NOW - 7000, 3399.0),  # long, ended 1 s before the hour
                done(4, NOW - 2000, None),  # unknown duration: not counted
                done(5, NOW - 86400 - 3000, 86400.0),  # the longest, ended 3000 s ago
            )
        ],
        NOW,
    )
    assert store.fleet_state(NOW).long_ended_last_hour == {("north", "windows"): 2}


def test_sqlite_reads_long_sign_ins_by_end_time(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    s = open_store(f"sqlite:///{path}")
    s.migrate()
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"{NUMS_SQLITE} {FILL_DEVICES}")
        conn.execute(f"{NUMS_SQLITE} {FILL_SIGNINS}", (NOW,))
        conn.execute("ANALYZE")
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {LONG_ENDED}", (0.0, NOW))]
        assert plan[0].startswith("SEARCH s USING INDEX signins_long_by_end ("), plan
        assert plan[1].startswith("SEARCH d USING INDEX sqlite_autoindex_devices_1"), plan
        rows = conn.execute(LONG_ENDED, (NOW - 90000, NOW - 3600)).fetchall()
    assert rows == [("north", "windows", DEVICES // 50)]


def test_postgres_reads_long_sign_ins_by_end_time(pg_url: str) -> None:
    import psycopg

    s = open_store(pg_url)
    s.migrate()
    s.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"{NUMS_POSTGRES} {FILL_DEVICES}")
        conn.execute(f"{NUMS_POSTGRES} {FILL_SIGNINS}".replace("?", "%s"), (NOW,))
        conn.execute("ANALYZE")
        sql = LONG_ENDED.replace("?", "%s")
        # as a prepared statement runs it after psycopg's prepare threshold: a generic plan
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE long_ended AS {sql.replace('%s', '$1', 1).replace('%s', '$2')}")
        plan = "\n".join(
            str(row[0]) for row in conn.execute(f"EXPLAIN EXECUTE long_ended({0.0}, {NOW})")
        )
        assert re.search(r"\bsignins_long_by_end\b", plan), plan
        assert "Seq Scan on signins" not in plan, plan
        rows = conn.execute(sql, (NOW - 90000, NOW - 3600)).fetchall()
    assert rows == [("north", "windows", DEVICES // 50)]
