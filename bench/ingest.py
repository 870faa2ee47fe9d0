"""Ingest throughput and ack latency of a real collector process, side by side with a bare
grpc.aio no-op server on the same messages.

    python -m bench.ingest [--reports 4000] [--records 10] [--devices 200] [--concurrency 32]
                           [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

from bench.machine import describe
from fleetpulse.v1 import telemetry_pb2 as pb

BIN = Path(sys.executable).parent
PG = "postgresql://postgres@127.0.0.1:5432/test"


def start(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server did not start: {argv}")
        if m := re.match(r"gRPC\s+(\S+)", line):
            return proc, m.group(1)


def build(devices: list[tuple[str, str]], reports: int, records: int) -> list[tuple[bytes, str]]:
    now = time.time()
    out = []
    for i in range(reports):
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
            if j % 2:
                rec.signin.CopyFrom(
                    pb.Signin(
                        session_id=f"s{base + j}",
                        boot_id="b",
                        user_hash="h",
                        started_at=now - 100,
                        state=pb.SIGNIN_STATE_COMPLETE,
                        total_seconds=40.0 + j,
                        phases=[pb.Phase(name="core", seconds=30.0)],
                    )
                )
            else:
                rec.app_usage.CopyFrom(
                    pb.AppUsage(
                        interval_start=now - 90,
                        interval_seconds=60,
                        app=f"app{j}.exe",
                        launches=1,
                        running_seconds=60,
                        foreground_seconds=20,
                        cpu_seconds=1.5,
                    )
                )
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
                except grpc.aio.AioRpcError:
                    errors += 1
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
        f"{name:<28} {fig['reports_s']:>10.0f} {fig['records_s']:>11.0f} "
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
    ap.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="collector processes on the same database, load spread over them",
    )
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print(
        f"load: {args.reports} reports x {args.records} records, {args.devices} devices, "
        f"{args.concurrency} in flight, gzip, durable commits ({args.db})"
    )
    print(
        f"{'server':<28} {'reports/s':>10} {'records/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
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
        noop, noop_addr = start([sys.executable, "-m", "bench.noop_server"])
        colls = [
            start(
                [
                    str(BIN / "fleetpulse-collector"),
                    "serve",
                    "--db",
                    db,
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics-listen",
                    "127.0.0.1:0",
                    "--device-rate",
                    "0",
                ]
            )
            for _ in range(args.collectors)
        ]
        coll_addr = colls[0][1]
        try:
            devices = enroll_devices(coll_addr, db, args.devices)
            msgs = build(devices, args.reports, args.records)
            base = line(
                "bare grpc.aio no-op",
                *asyncio.run(drive(noop_addr, msgs, args.concurrency)),
                args.reports,
                args.records,
            )
            name = f"fleetpulse-collector/{args.db} x{args.collectors}"
            real = line(
                name,
                *asyncio.run(drive([a for _, a in colls], msgs, args.concurrency)),
                args.reports,
                args.records,
            )
            print(f"ratio collector/no-op: {real['reports_s'] / base['reports_s']:.0%}")
        finally:
            for p in (noop, *(c for c, _ in colls)):
                p.terminate()
                p.wait(timeout=30)
        if args.db == "postgres":
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
