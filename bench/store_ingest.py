"""The store's ingest alone: ``store.ingest`` timed on groups of reports, without gRPC or
the ingest worker, to compare write paths before and after a change.

    python -m bench.store_ingest [--db sqlite|postgres] [--mix steady|storm] [--groups 150]
                                 [--group 32] [--devices 200] [--records 10]

Each group holds ``--group`` reports of distinct devices (one round of the writer), each of
``--records`` records in bench.ingest's mixes (completed sign-ins here carry one
contributor); every report has new seqs. Prints the milliseconds per group (median, mean)
and the reports/s the store alone takes at the median. PostgreSQL: a fresh schema in the
``test`` database, dropped afterwards; SQLite: a temporary file. ``OTHER/bin/python -m
bench.store_ingest`` from this checkout times another environment's collector code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

import psycopg

from bench.ingest import PG, STORM
from bench.machine import describe
from fleetpulse.collector.auth import digest
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    Contributor,
    DeviceFacts,
    HealthRecord,
    Phase,
    Record,
    SigninRecord,
    SigninState,
)

FACTS = DeviceFacts(hostname="h", os="windows", os_version="11", agent_version="0.1.0")


def record(kind: str, seq: int, now: float) -> Record:
    """A record of ``kind`` (bench.ingest's names) unique to ``seq``."""
    if kind == "boot":
        return BootRecord(f"b{seq}", now - 300, 45.0 + seq % 30)
    if kind == "live":
        return SigninRecord(
            "live", "b", "h", now - 100, SigninState.IN_PROGRESS, None, float(seq % 60)
        )
    if kind == "signin":
        return SigninRecord(
            f"s{seq}",
            "b",
            "h",
            now - 100,
            SigninState.COMPLETE,
            40.0 + seq % 20,
            phases=(Phase("core", 30.0),),
            contributors=(Contributor("app", "x.exe", 3.0),),
        )
    if kind == "app":
        return AppUsageRecord(now - 90, 60.0, f"app{seq % 10}.exe", 1, 60.0, 20.0, 1.5)
    return HealthRecord({}, 0, 4096 + seq)


def groups(
    devices: list[str], count: int, size: int, records: int, mix: str, now: float
) -> list[list[Report]]:
    """``count`` groups of ``size`` reports of distinct devices, round robin over them."""
    out: list[list[Report]] = []
    n = 0
    for _ in range(count):
        group = []
        for _ in range(size):
            base = (n // len(devices)) * records + 1
            kinds = [
                STORM[(base + j) % len(STORM)] if mix == "storm" else ("signin" if j % 2 else "app")
                for j in range(records)
            ]
            recs = [
                Incoming(base + j, now - 30, record(k, base + j, now)) for j, k in enumerate(kinds)
            ]
            group.append(Report(devices[n % len(devices)], FACTS, recs, now))
            n += 1
        out.append(sorted(group, key=lambda r: r.device_id))
    return out


def timed(store: Store, args: argparse.Namespace) -> list[float]:
    """Seconds per group of ``store.ingest`` after enrolling ``args.devices`` devices."""
    now = time.time()
    devices = [f"d{i}" for i in range(args.devices)]
    for d in devices:
        store.create_token(f"t-{d}", digest(f"fpt_{d}"), "north", now, None, None)
        store.enroll(digest(f"fpt_{d}"), d, digest("s"), "h", "windows", "11", "0.1.0", "", "", now)
    took = []
    for group in groups(devices, args.groups, args.group, args.records, args.mix, now):
        start = time.perf_counter()
        store.ingest(group, now)
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--mix", choices=["steady", "storm"], default="steady")
    ap.add_argument("--groups", type=int, default=150)
    ap.add_argument("--group", type=int, default=32, help="reports per group")
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--records", type=int, default=10)
    args = ap.parse_args()
    if args.group > args.devices:
        ap.error("--group must not exceed --devices (one report per device per group)")
    print(f"machine: {describe()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            url = f"sqlite:///{tmp}/store.db"
            schema = ""
        else:
            schema = "bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            url = f"{PG}?options=-csearch_path%3D{schema}"
        try:
            store = open_store(url)
            store.migrate()
            try:
                took = timed(store, args)
            finally:
                store.close()
        finally:
            if schema:
                with psycopg.connect(PG, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    median = statistics.median(took)
    print(
        f"{args.db} {args.mix}: {len(took)} groups of {args.group} reports x {args.records}"
        f" records: {median * 1000:.2f} ms/group median, {statistics.mean(took) * 1000:.2f} mean;"
        f" {args.group / median:.0f} reports/s at the median"
    )


if __name__ == "__main__":
    main()
