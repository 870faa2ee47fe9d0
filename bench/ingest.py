"""Ingest throughput and ack latency of a real collector process, side by side with a bare
grpc.aio no-op server on the same messages.

    python -m bench.ingest [--reports 4000] [--records 10] [--devices 200] [--concurrency 32]
                           [--db sqlite|postgres] [--collectors N] [--mix steady|storm]
                           [--rounds 2] [--paced 0.7] [--ingest-worker thread,process]
                           [--fleet 300000] [--scrape] [--refresh-seconds 10]
                           [--baseline OTHER_VENV/bin]

Each round sends ``--reports`` new reports to the no-op server and then to the collector(s),
so both are measured under the same load on this machine; the table gives each round and
the median ratio. ``--paced F`` then sends at F times the collector's measured peak
(open loop: each report starts at its time, however many are in flight) and reports the
ack latency there (the p99 target is at 70 % of peak).

``--ingest-worker thread,process`` starts a collector (or ``--collectors`` of them) for each
value on the same database and measures each in every round, right after the no-op server,
on reports of its own (new seqs), so "before" and "after" compare within one run.
``--baseline DIR`` adds, for each of those values, the same collector from another
environment (``DIR/fleetpulse-collector``: e.g. a checkout of the previous commit with its own
virtual environment), named ``VALUE@baseline``, measured in the same rounds: a code change
compared before/after in one run. Both must accept the same database schema.

``--fleet N`` first fills the store with N devices (bench.metrics_render's generator: sites,
OSes, sign-ins, boots, inventory) so that the fleet-state gauges are those of a large
fleet; ``--scrape`` then scrapes /metrics every 0.5 s while the paced load runs.

Mixes (``--records`` per report):
- ``steady``: half completed sign-ins, half app usage (the first figures' mix).
- ``storm``: a morning storm, per record: 10 % boots, 25 % sign-in-in-progress updates,
  15 % completed sign-ins, 40 % app usage, 10 % health (heartbeats); each device boots,
  updates one sign-in in progress several times and completes it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc

from bench.collector import BIN, serve_argv
from bench.machine import describe
from bench.metrics_render import fleet, get, populate, series
from fleetpulse.v1 import telemetry_pb2 as pb

PG = "postgresql://postgres@127.0.0.1:5432/test"


def start(argv: list[str], metrics: bool = False) -> tuple[subprocess.Popen[str], str, str]:
    """The server, its gRPC address and (``metrics``: waiting for it) its /metrics URL."""
    log = os.environ.get("BENCH_SERVER_LOG")  # a file for the servers' logs, else none
    err = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115  # the server's
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdout is not None
    grpc_addr = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server did not start: {argv}")
        if m := re.match(r"gRPC\s+(\S+)", line):
            grpc_addr = m.group(1)
            if not metrics:
                return proc, grpc_addr, ""
        if m := re.match(r"metrics\s+(\S+)", line):
            return proc, grpc_addr, m.group(1)


class Scraper:
    """Scrapes /metrics (gzip, as Prometheus does) every ``every`` seconds in a thread
    while the paced load runs; ``took`` holds each scrape's seconds to the last byte."""

    def __init__(self, urls: list[str], every: float = 0.5) -> None:
        self.urls = urls
        self.every = every
        self.took: list[float] = []
        self.series = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for url in self.urls:
                seconds, _, text = get(url, True)
                self.took.append(seconds)
                self.series = series(text)


STORM = (
    "boot",
    "live",
    "live",
    "signin",
    "app",
    "app",
    "live",
    "signin",
    "app",
    "health",
    "app",
    "live",
    "app",
    "signin",
    "app",
    "live",
    "app",
    "health",
    "boot",
    "app",
)


def _record(rec: pb.Record, kind: str, seq: int, now: float) -> None:
    """Fills ``rec`` as a record of ``kind`` unique to ``seq`` (so no natural duplicate)."""
    if kind == "boot":
        rec.boot.CopyFrom(
            pb.Boot(
                boot_id=f"b{seq}",
                boot_time=now - 300,
                total_seconds=45.0 + seq % 30,
                boot_type=pb.BOOT_TYPE_COLD,
                phases=[pb.Phase(name="main_path", seconds=30.0)],
            )
        )
    elif kind in ("signin", "live"):
        rec.signin.CopyFrom(
            pb.Signin(
                session_id=f"s{seq}" if kind == "signin" else "live",
                boot_id="b",
                user_hash="h",
                started_at=now - 100,
                state=pb.SIGNIN_STATE_COMPLETE if kind == "signin" else pb.SIGNIN_STATE_IN_PROGRESS,
                total_seconds=40.0 + seq % 20 if kind == "signin" else None,
                elapsed_seconds=0.0 if kind == "signin" else float(seq % 60),
                phases=[pb.Phase(name="core", seconds=30.0)] if kind == "signin" else [],
            )
        )
    elif kind == "app":
        rec.app_usage.CopyFrom(
            pb.AppUsage(
                interval_start=now - 90,
                interval_seconds=60,
                app=f"app{seq % 10}.exe",
                launches=1,
                running_seconds=60,
                foreground_seconds=20,
                cpu_seconds=1.5,
            )
        )
    else:
        rec.health.CopyFrom(pb.AgentHealth(spool_bytes=4096 + seq, parse_errors=0))


def build(
    devices: list[tuple[str, str]], reports: int, records: int, mix: str = "steady", first: int = 0
) -> list[tuple[bytes, str]]:
    """``reports`` serialized reports (and each one's device secret), round robin over
    ``devices``; ``first`` is the index of the first report over the whole run, so later
    rounds carry new seqs."""
    now = time.time()
    out = []
    for i in range(first, first + reports):
        dev, secret = devices[i % len(devices)]
        req = pb.ReportRequest(
            device_id=dev,
            sent_at=now,
            facts=pb.DeviceFacts(
                hostname=f"h{i % len(devices)}", os="windows", agent_version="0.1.0"
            ),
        )
        base = (i // len(devices)) * records + 1
        for j in range(records):
            rec = req.records.add(seq=base + j, observed_at=now - 30)
            if mix == "storm":
                kind = STORM[(base + j) % len(STORM)]
            else:
                kind = "signin" if j % 2 else "app"
            _record(rec, kind, base + j, now)
        out.append((req.SerializeToString(), secret))
    return out


async def drive(
    targets: str | list[str], messages: list[tuple[bytes, str]], concurrency: int
) -> tuple[float, list[float], int]:
    """Sends every message with ``concurrency`` calls in flight, spread over ``targets``."""
    latencies: list[float] = []
    errors = 0
    targets = [targets] if isinstance(targets, str) else targets
    channels = [grpc.aio.insecure_channel(t, compression=grpc.Compression.Gzip) for t in targets]
    try:
        calls = [ch.unary_unary("/fleetpulse.v1.Telemetry/Report") for ch in channels]
        queue = list(reversed(messages))

        async def worker(call: grpc.aio.UnaryUnaryMultiCallable) -> None:
            nonlocal errors
            while queue:
                raw, secret = queue.pop()
                t0 = time.perf_counter()
                try:
                    await call(raw, metadata=(("authorization", f"Device {secret}"),), timeout=30)
                except grpc.aio.AioRpcError as exc:
                    errors += 1
                    _failed(exc)
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(calls[i % len(calls)]) for i in range(concurrency)))
        return time.perf_counter() - t0, latencies, errors
    finally:
        for ch in channels:
            await ch.close()


def enroll_devices(target: str, db: str, n: int) -> list[tuple[str, str]]:
    token = subprocess.run(
        [str(BIN / "fleetpulse-collector"), "token", "create", "--site", "bench", "--db", db],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = []
    with grpc.insecure_channel(target) as ch:
        enroll = ch.unary_unary(
            "/fleetpulse.v1.Telemetry/Enroll",
            request_serializer=pb.EnrollRequest.SerializeToString,
            response_deserializer=pb.EnrollResponse.FromString,
        )
        for i in range(n):
            resp = enroll(
                pb.EnrollRequest(
                    token=token,
                    facts=pb.DeviceFacts(hostname=f"h{i}", os="windows", agent_version="0.1.0"),
                ),
                timeout=10,
            )
            out.append((resp.device_id, resp.device_secret))
    return out


async def paced(
    targets: list[str], messages: list[tuple[bytes, str]], rate: float
) -> tuple[float, list[float], int]:
    """Sends ``messages`` at ``rate`` reports/s, each at its scheduled time (open loop)."""
    latencies: list[float] = []
    errors = 0
    channels = [grpc.aio.insecure_channel(t, compression=grpc.Compression.Gzip) for t in targets]
    try:
        calls = [ch.unary_unary("/fleetpulse.v1.Telemetry/Report") for ch in channels]

        async def one(k: int, raw: bytes, secret: str) -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                await calls[k % len(calls)](
                    raw, metadata=(("authorization", f"Device {secret}"),), timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                errors += 1
                _failed(exc)
            latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        tasks = []
        for k, (raw, secret) in enumerate(messages):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k, raw, secret)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start, latencies, errors
    finally:
        for ch in channels:
            await ch.close()


#: gRPC status names of the failed calls, counted over the run, and the first details of each
CODES: dict[str, int] = {}
DETAILS: dict[str, str] = {}


def _failed(exc: grpc.aio.AioRpcError) -> None:
    name = exc.code().name
    CODES[name] = CODES.get(name, 0) + 1
    DETAILS.setdefault(name, str(exc.details()))


def line(
    name: str, seconds: float, lat: list[float], errors: int, reports: int, records: int
) -> dict[str, float]:
    q = statistics.quantiles(lat, n=100, method="inclusive")
    fig = {
        "reports_s": reports / seconds,
        "records_s": reports * records / seconds,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
    }
    print(
        f"{name:<34} {fig['reports_s']:>10.0f} {fig['records_s']:>11.0f} "
        f"{fig['p50_ms']:>8.1f} {fig['p99_ms']:>8.1f} {errors:>7}"
    )
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=4000)
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--mix", choices=["steady", "storm"], default="steady")
    ap.add_argument("--rounds", type=int, default=2, help="no-op then collector, this many times")
    ap.add_argument(
        "--paced", type=float, default=0.0, help="then send at this fraction of the peak"
    )
    ap.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="collector processes on the same database, load spread over them",
    )
    ap.add_argument(
        "--ingest-worker",
        default="process",
        help="serve --ingest-worker value(s), comma-separated: each is measured in every round",
    )
    ap.add_argument(
        "--fleet",
        type=int,
        default=0,
        help="first fill the store with this many devices (bench.metrics_render's fleet)",
    )
    ap.add_argument(
        "--scrape", action="store_true", help="scrape /metrics every 0.5 s during --paced"
    )
    ap.add_argument("--refresh-seconds", type=float, default=10.0, help="serve's fleet refresh")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another environment's scripts folder: its collector is measured too (VALUE@baseline)",
    )
    args = ap.parse_args()
    workers = [v.strip() for v in args.ingest_worker.split(",") if v.strip()]
    if args.baseline and not (args.baseline / "fleetpulse-collector").exists():
        raise SystemExit(f"--baseline: no fleetpulse-collector in {args.baseline}")
    # variant name -> (--ingest-worker value, scripts folder); baseline first in each round
    variants_bin = {
        **({f"{w}@baseline": (w, args.baseline) for w in workers} if args.baseline else {}),
        **{w: (w, BIN) for w in workers},
    }
    variants = list(variants_bin)
    print(f"machine: {describe()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"load: {args.rounds} rounds of {args.reports} reports x {args.records} records "
        f"({args.mix}), {args.devices} devices, {args.concurrency} in flight, gzip, durable "
        f"commits ({args.db}, {args.collectors} collector process(es))"
    )
    print(
        f"{'server':<34} {'reports/s':>10} {'records/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            db = f"sqlite:///{tmp}/bench.db"
        else:
            import psycopg

            schema = "bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            db = f"{PG}?options=-csearch_path%3D{schema}"
        if args.fleet:  # a fleet already enrolled and reporting, for the fleet-state gauges
            t0 = time.perf_counter()
            populate(db, fleet(args.fleet, time.time()))
            print(f"# populated {args.fleet} devices in {time.perf_counter() - t0:.1f} s")
        noop, noop_addr, _ = start([sys.executable, "-m", "bench.noop_server"])
        colls = {
            v: [
                start(
                    serve_argv(
                        db,
                        "--device-rate",
                        "0",
                        "--ingest-worker",
                        variants_bin[v][0],
                        "--refresh-seconds",
                        str(args.refresh_seconds),
                        bin_dir=variants_bin[v][1],
                    ),
                    metrics=True,
                )
                for _ in range(args.collectors)
            ]
            for v in variants
        }
        addrs = {v: [a for _, a, _ in procs] for v, procs in colls.items()}
        urls = {v: [u for _, _, u in procs] for v, procs in colls.items()}
        try:
            devices = enroll_devices(addrs[variants[0]][0], db, args.devices)
            ratios: dict[str, list[float]] = {v: [] for v in variants}
            peaks: dict[str, list[float]] = {v: [] for v in variants}
            sent = 0
            for r in range(args.rounds):
                msgs = build(devices, args.reports, args.records, args.mix, sent)
                base = line(
                    f"{r + 1}: bare grpc.aio no-op",
                    *asyncio.run(drive(noop_addr, msgs, args.concurrency)),
                    args.reports,
                    args.records,
                )
                for v in variants:  # new seqs for each: nothing is a duplicate
                    msgs = build(devices, args.reports, args.records, args.mix, sent)
                    sent += args.reports
                    real = line(
                        f"{r + 1}: collector/{args.db} {v} x{args.collectors}",
                        *asyncio.run(drive(addrs[v], msgs, args.concurrency)),
                        args.reports,
                        args.records,
                    )
                    ratios[v].append(real["reports_s"] / base["reports_s"])
                    peaks[v].append(real["reports_s"])
            for v in variants:
                print(
                    f"ratio collector ({v})/no-op per round: "
                    f"{', '.join(f'{x:.0%}' for x in ratios[v])}; "
                    f"median {statistics.median(ratios[v]):.0%}"
                )
            if args.paced:
                for v in variants:
                    rate = args.paced * statistics.median(peaks[v])
                    msgs = build(devices, args.reports, args.records, args.mix, sent)
                    sent += args.reports
                    with Scraper(urls[v] if args.scrape else []) as scrapes:
                        line(
                            f"paced {v} {args.paced:.0%} of peak ({rate:.0f}/s)",
                            *asyncio.run(paced(addrs[v], msgs, rate)),
                            args.reports,
                            args.records,
                        )
                    if scrapes.took:
                        q = statistics.quantiles(scrapes.took, n=20, method="inclusive")
                        print(
                            f"  /metrics (gzip) during it: {len(scrapes.took)} scrapes of "
                            f"{scrapes.series} series, p50 {q[9] * 1000:.1f} ms, "
                            f"p95 {q[18] * 1000:.1f} ms, max {max(scrapes.took) * 1000:.1f} ms"
                        )
        finally:
            for p in (noop, *(c for procs in colls.values() for c, _, _ in procs)):
                p.terminate()
                p.wait(timeout=30)
        if args.db == "postgres":
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    if CODES:
        print(f"failed calls by status: {CODES}; first details: {DETAILS}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
