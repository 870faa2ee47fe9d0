"""The same fleet pushed into Prometheus Pushgateway, the tool a team would otherwise reach
for: pushes/s and latency from the same number of devices and reports as bench.ingest, then
the size and scrape time of what Pushgateway exposes.

    python -m bench.pushgateway [--reports 4000] [--records 10] [--devices 200] [--threads 8]

Needs Debian's prometheus-pushgateway (/usr/bin/prometheus-pushgateway).
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry, Histogram, push_to_gateway

from bench.machine import describe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=4000)
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        sys.exit("prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateway = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{gateway}/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(1)
        # one registry per device, as an agent pushing its own sign-in histogram would have
        registries = []
        for _ in range(args.devices):
            reg = CollectorRegistry()
            hist = Histogram(
                "fleetpulse_login_duration_seconds",
                "Sign-in duration.",
                ["site", "os"],
                buckets=BUCKETS,
                registry=reg,
            )
            registries.append((reg, hist))

        def push(i: int) -> float:
            reg, hist = registries[i % args.devices]
            for _ in range(args.records):
                hist.labels("north", "windows").observe(rng.lognormvariate(3.5, 0.7))
            t0 = time.perf_counter()
            push_to_gateway(
                gateway,
                job="fleetpulse",
                registry=reg,
                grouping_key={"device": f"d{i % args.devices}"},
                timeout=30,
            )
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            lat = list(pool.map(push, range(args.reports)))
        elapsed = time.perf_counter() - t0
        q = statistics.quantiles(lat, n=100, method="inclusive")
        t1 = time.perf_counter()
        with urllib.request.urlopen(f"http://{gateway}/metrics", timeout=30) as resp:
            body = resp.read()
        scrape = time.perf_counter() - t1
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"machine: {describe()}")
    print(
        f"load: {args.reports} pushes x {args.records} observations, {args.devices} devices, "
        f"{args.threads} threads"
    )
    print(
        f"pushgateway: {args.reports / elapsed:.0f} pushes/s, "
        f"{args.reports * args.records / elapsed:.0f} observations/s, "
        f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"
    )
    print(
        f"its /metrics after the run: {len(body) / 1024:.0f} KiB, {series} series, "
        f"scraped in {scrape * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
