"""/metrics render time and size of a real collector process at fleet sizes, in aggregate
and per-device mode, plus the fleet-state refresh query that feeds the gauges.

    python -m bench.metrics_render [--devices 30000 300000] [--gets 30] [--budget 60]
                                   [--db sqlite|postgres] [--modes aggregate per-device]
                                   [--profile DIR]

The store is populated directly (this measures rendering, not ingest): devices over 20 sites,
three OSes and three agent versions, mostly reporting, some stale or silent, 60 hardware models
(a few devices unknown), two sign-ins and one boot for most devices (the latest sign-in with two
contributors), a 30-minute sign-in that ended in the last hour for 1 % of them, a few sign-ins
in progress and an inventory. Then
``fleetpulse-collector serve --refresh-seconds 5`` runs on it (it serves /metrics only after
its first fleet-state refresh), and /metrics is fetched ``--gets`` times as Prometheus does
(with ``Accept-Encoding: gzip``) and as plain text. The refresh query is timed separately by
calling ``store.fleet_state`` in this process, and so is what the collector adds at every sixth
refresh (the event-time window figures and the by-model figures, server.WINDOW_EVERY_REFRESHES).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

from bench.collector import serve_argv
from bench.machine import describe
from fleetpulse.collector.figures import model_figures, window_figures
from fleetpulse.collector.metrics import FleetStateCollector, IngestMetrics
from fleetpulse.collector.model import FleetState
from fleetpulse.collector.model_board import WINDOW_SECONDS as MODEL_WINDOW_SECONDS
from fleetpulse.collector.signin_windows import WINDOWS, window_end
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.store.schema import LATEST_BACKFILL

PG = "postgresql://postgres@127.0.0.1:5432/test"
SITES = [f"site{i:02d}" for i in range(20)]
OSES = (("windows", 0.8), ("linux", 0.15), ("macos", 0.05))
VERSIONS = ("0.1.0", "0.0.9", "0.0.8")

DEVICE_COLS = (
    "device_id, secret_hash, site, hostname, os, os_version, agent_version,"
    " hardware_id, machine_id, token_id, enrolled_at, last_seen, revoked_at,"
    " manufacturer, model, memory_bytes, system_disk"
)
SIGNIN_COLS = (
    "device_id, seq, boot_id, session_id, user_hash, started_at, total_seconds,"
    " core_seconds, responsive_seconds, phases, first_login, after_update,"
    " received_at"
)
BOOT_COLS = (
    "device_id, seq, boot_id, boot_time, total_seconds, boot_type, degraded, phases,"
    " culprits, received_at"
)
LIVE_COLS = "device_id, boot_id, session_id, started_at, elapsed_seconds, updated_at, last_seq"
CONTRIBUTOR_COLS = "device_id, seq, ordinal, kind, name, seconds"
MAKERS = ("LENOVO", "HP", "Dell Inc.", "Apple Inc.")


def fleet(n: int, now: float, seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    """Rows for the devices, signins, signin_contributors, boots, signins_in_progress and
    inventory tables."""
    rng = random.Random(seed)
    devices, signins, contributors, boots, live, inventory = [], [], [], [], [], []
    for i in range(n):
        dev = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        site = SITES[i % len(SITES)]
        os_ = rng.choices([o for o, _ in OSES], [w for _, w in OSES])[0]
        host = f"host-{i:06d}"
        r = rng.random()
        seen = now - (
            rng.uniform(0, 3000)
            if r < 0.9
            else rng.uniform(4000, 80000)
            if r < 0.97
            else rng.uniform(90000, 30 * 86400)
        )
        devices.append(
            (
                dev,
                "0" * 64,
                site,
                host,
                os_,
                f"{os_} 1",
                rng.choice(VERSIONS),
                f"hw{i}",
                f"mid{i}",
                "tok",
                now - 40 * 86400,
                seen,
                None,
                *hardware(rng),
            )
        )
        inventory.append((host, site))
        if rng.random() < 0.05:  # enrolled, never used
            continue
        day = now - now % 86400
        for d, seq in ((2, 1), (1, 2)):
            start = day - d * 86400 + 8 * 3600 + rng.uniform(0, 3600)
            total = rng.lognormvariate(3.5, 0.7)
            signins.append(
                (
                    dev,
                    seq * 10 + 1,
                    f"b{seq}",
                    f"s{seq}",
                    "h",
                    start,
                    total,
                    total * 0.8,
                    total * 0.2,
                    '{"core":1.0,"responsive":1.0}',
                    0,
                    0,
                    start + total,
                )
            )
        contributors.append((dev, 21, 0, "app", "OneDrive.exe", total * 0.3))
        contributors.append((dev, 21, 1, "service", "gpsvc", total * 0.1))
        if rng.random() < 0.01:  # a 30-minute sign-in that ended within the last hour
            total = rng.uniform(1800, 5400)
            start = now - rng.uniform(0, 3000) - total
            signins.append(
                (dev, 31, "b3", "s3", "h", start, total, total, 0.0, "{}", 0, 0, start + total)
            )
        boot = rng.lognormvariate(3.8, 0.45)
        boots.append(
            (
                dev,
                30,
                "b2",
                day - 86400 + 7.5 * 3600,
                boot,
                "cold",
                0,
                '{"main_path":1.0}',
                "[]",
                day - 86400 + 8 * 3600,
            )
        )
        if rng.random() < 0.002:
            live.append((dev, "b3", "s3", now - 60, 50.0, now - 10, 40))
    for i in range(n, n + n // 20):  # expected devices not enrolled yet
        inventory.append((f"host-{i:06d}", SITES[i % len(SITES)]))
    return {
        "devices": devices,
        "signins": signins,
        "signin_contributors": contributors,
        "boots": boots,
        "signins_in_progress": live,
        "inventory": inventory,
    }


COLS = {
    "devices": DEVICE_COLS,
    "signins": SIGNIN_COLS,
    "signin_contributors": CONTRIBUTOR_COLS,
    "boots": BOOT_COLS,
    "signins_in_progress": LIVE_COLS,
    "inventory": "hostname, site",
}


def hardware(rng: random.Random) -> tuple[Any, ...]:
    """A device's manufacturer, model, memory and system disk: 60 models, a few unknown."""
    if rng.random() < 0.03:
        return (None, None, None, None)
    k = min(59, int(rng.expovariate(0.08)))
    return (
        MAKERS[k % len(MAKERS)],
        f"Model {k:02d}",
        rng.choice((8, 16, 32)) * 2**30,
        "hdd" if rng.random() < 0.05 else "ssd",
    )


def populate(url: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    store = open_store(url)
    store.migrate()
    store.close()
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute("BEGIN")
        for table, data in rows.items():
            marks = ",".join("?" * (COLS[table].count(",") + 1))
            conn.executemany(f"INSERT INTO {table} ({COLS[table]}) VALUES ({marks})", data)
        for statement in LATEST_BACKFILL:  # what ingest keeps on each device's row
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url) as pg:
        for table, data in rows.items():
            with pg.cursor().copy(f"COPY {table} ({COLS[table]}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        for statement in LATEST_BACKFILL:  # what ingest keeps on each device's row
            pg.execute(statement)
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")  # a steady-state database: autovacuum has run


def start(db: str, per_device: bool, timeout: float = 600) -> tuple[subprocess.Popen[str], str]:
    argv = serve_argv(db, "--refresh-seconds", "5")
    if per_device:
        argv.append("--per-device-metrics")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"collector did not start: {shlex.join(argv)}")
        if m := re.match(r"metrics\s+(\S+)", line):
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("collector did not start in time")


def get(url: str, gz: bool) -> tuple[float, int, bytes]:
    """One scrape: (seconds to the last byte, bytes on the wire, the text)."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = resp.read()
        encoded = resp.headers.get("Content-Encoding") == "gzip"
    took = time.perf_counter() - t0
    return took, len(body), gzip.decompress(body) if encoded else body


def series(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def time_refresh(url: str, per_device: bool, repeat: int = 3) -> tuple[float, FleetState]:
    """Median seconds of ``store.fleet_state`` (the refresh query), and its result."""
    store = open_store(url)
    try:
        took = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            state = store.fleet_state(time.time(), per_device)
            took.append(time.perf_counter() - t0)
    finally:
        store.close()
    return statistics.median(took), state


def time_sixth(url: str, sites: set[str], repeat: int = 3) -> tuple[float, float, float]:
    """Median seconds of what the collector adds at every sixth refresh (as
    ``fleetpulse.collector.figures.compute`` does, in the collector's figure process): the
    store's read (the 28 days' SLA sign-ins and boots and every device, as columns), the
    computation of the event-time window figures and that of the by-model figures."""
    store = open_store(url)
    reads, windows, models = [], [], []
    try:
        for _ in range(repeat):
            until = window_end(time.time())
            t0 = time.perf_counter()
            rows = store.figure_rows(until - max(MODEL_WINDOW_SECONDS, *WINDOWS.values()), until)
            t1 = time.perf_counter()
            window_figures(rows, until, sites)
            t2 = time.perf_counter()
            model_figures(rows, until)
            t3 = time.perf_counter()
            reads.append(t1 - t0)
            windows.append(t2 - t1)
            models.append(t3 - t2)
    finally:
        store.close()
    return statistics.median(reads), statistics.median(windows), statistics.median(models)


def breakdown(
    state: FleetState, per_device: bool, repeat: int = 5
) -> tuple[float, float, float, int]:
    """In this process, the collector's registry on the same snapshot: median seconds to
    produce the text (collect + format), to gzip it as prometheus-client does (level 9),
    and to gzip it at level 1; and the number of series it rendered."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ingest = IngestMetrics(registry)
    fleet_gauges = FleetStateCollector()
    fleet_gauges.state = state
    registry.register(fleet_gauges)
    for site, os_, _version, _state in state.devices:
        ingest.prime(site, os_)
    text_s, gz9, gz1 = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        text = generate_latest(registry)
        t1 = time.perf_counter()
        gzip.compress(text)
        t2 = time.perf_counter()
        gzip.compress(text, compresslevel=1)
        t3 = time.perf_counter()
        text_s.append(t1 - t0)
        gz9.append(t2 - t1)
        gz1.append(t3 - t2)
    return (statistics.median(text_s), statistics.median(gz9), statistics.median(gz1), series(text))


def profile(pid: int, out: Path, url: str, seconds: float) -> None:
    """py-spy on the collector while this process keeps scraping it."""
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(pid),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(out),
            "-d",
            str(int(seconds)),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + seconds + 1
    while time.monotonic() < end and spy.poll() is None:
        get(url, True)
    spy.wait(timeout=60)


def quantile(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, nargs="+", default=[30_000, 300_000])
    ap.add_argument(
        "--modes",
        nargs="+",
        choices=["aggregate", "per-device"],
        default=["aggregate", "per-device"],
    )
    ap.add_argument("--gets", type=int, default=30)
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="stop a scenario's GETs after this many seconds (at least 5 GETs)",
    )
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--profile", type=Path, help="write py-spy raw profiles into DIR")
    args = ap.parse_args()
    # a TERM runs the finally clauses: collectors stopped, PostgreSQL schemas dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {describe()}")
    print(f"command: python -m bench.metrics_render {shlex.join(sys.argv[1:])}".rstrip())
    print(
        f"{'devices':>8} {'mode':<10} {'store':<8} {'refresh ms':>10} "
        f"{'gzip p50':>9} {'gzip p95':>9} {'gzip KiB':>9} {'text p50':>9} {'text p95':>9} "
        f"{'text KiB':>9} {'series':>8} {'gets':>5}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.devices:
            now = time.time()
            if args.db == "sqlite":
                db = f"sqlite:///{tmp}/fleet{n}.db"
            else:
                import psycopg

                schema = "bench_" + uuid.uuid4().hex[:8]
                with psycopg.connect(PG, autocommit=True) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
                db = f"{PG}?options=-csearch_path%3D{schema}"
            t0 = time.perf_counter()
            populate(db, fleet(n, now))
            print(f"# populated {n} devices in {time.perf_counter() - t0:.1f} s", flush=True)
            try:
                for mode in args.modes:
                    per_device = mode == "per-device"
                    load = os.getloadavg()[0]  # other work on the machine skews the figures
                    refresh, state = time_refresh(db, per_device)
                    reads, windows, models = time_sixth(db, {k[0] for k in state.devices})
                    long_ended = sum(state.long_ended_last_hour.values())
                    proc, url = start(db, per_device)
                    try:
                        get(url, True)  # warm up
                        figures: dict[bool, tuple[list[float], int, int]] = {}
                        for gz in (True, False):
                            took: list[float] = []
                            size, rows = 0, 0
                            budget = time.monotonic() + args.budget
                            while len(took) < args.gets and (
                                len(took) < 5 or time.monotonic() < budget
                            ):
                                seconds, size, text = get(url, gz)
                                took.append(seconds)
                            rows = series(text)
                            figures[gz] = (took, size, rows)
                        if args.profile:
                            args.profile.mkdir(parents=True, exist_ok=True)
                            profile(proc.pid, args.profile / f"metrics-{n}-{mode}.txt", url, 5)
                    finally:
                        proc.terminate()
                        proc.wait(timeout=60)
                    (gt, gsize, _), (tt, tsize, rows) = figures[True], figures[False]
                    print(
                        f"{n:>8} {mode:<10} {args.db:<8} {refresh * 1000:>10.0f} "
                        f"{statistics.median(gt) * 1000:>9.1f} {quantile(gt, 95) * 1000:>9.1f} "
                        f"{gsize / 1024:>9.0f} {statistics.median(tt) * 1000:>9.1f} "
                        f"{quantile(tt, 95) * 1000:>9.1f} {tsize / 1024:>9.0f} {rows:>8} "
                        f"{len(gt):>5}",
                        flush=True,
                    )
                    after = os.getloadavg()[0]
                    parts = breakdown(state, per_device)
                    del state
                    if abs(parts[3] - rows) > rows // 100:  # not what the collector serves
                        print(
                            f"#   in-process render n/a: the registry alone renders {parts[3]} "
                            f"series, the collector served {rows}",
                            flush=True,
                        )
                    else:
                        print(
                            f"#   in-process render of the same snapshot: text "
                            f"{parts[0] * 1000:.1f} ms, gzip level 9 {parts[1] * 1000:.1f} ms,"
                            f" gzip level 1 {parts[2] * 1000:.1f} ms",
                            flush=True,
                        )
                    print(
                        f"#   every sixth refresh adds: {(reads + windows + models) * 1000:.0f} ms"
                        f" (store read {reads * 1000:.0f} ms, window figures"
                        f" {windows * 1000:.0f} ms, by-model figures {models * 1000:.0f} ms);"
                        f" 30-minute sign-ins ended in the last hour:"
                        f" {long_ended}",
                        flush=True,
                    )
                    print(f"#   load average {load:.2f} before, {after:.2f} after", flush=True)
            finally:
                if args.db == "postgres":
                    with psycopg.connect(PG, autocommit=True) as conn:
                        conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
