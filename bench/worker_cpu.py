"""The ingest worker's Python per report, stage by stage, without gRPC or a store: CPU
time (``time.process_time``) of decoding, validating and counting bench.ingest's reports
in groups, as the worker does them, to compare its per-record code before and after a
change.

    python -m bench.worker_cpu [--mix steady|storm] [--reports 3000] [--group 32]
                               [--passes 5]

Each pass decodes every group's reports (``serde.report_from_bytes``: upb parse, enum
check, typed records), validates them (``validation.validate``) and counts them into a
worker's tallies (``IngestMetrics.observe``, then ``take`` per group, as the worker
answers); a group is dropped before the next (a worker keeps one or two). Prints the
median over passes of each stage's microseconds per report (10 records; 200 devices).
``OTHER/bin/python -m bench.worker_cpu`` from this checkout times another environment's
collector code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.ingest import build
from bench.machine import describe
from fleetpulse.collector import serde
from fleetpulse.collector.validation import validate
from fleetpulse.collector.worker import worker_metrics

STAGES = ("decode", "validate", "observe")


def one_pass(raws: list[bytes], group: int, now: float) -> dict[str, float]:
    """Seconds of CPU per stage over all of ``raws``, in groups of ``group``."""
    spent = dict.fromkeys(STAGES, 0.0)
    metrics = worker_metrics()
    clock = time.process_time
    for i in range(0, len(raws), group):
        t0 = clock()
        reports = [serde.report_from_bytes(raw) for raw in raws[i : i + group]]
        t1 = clock()
        for report in reports:
            validate(report, now)
        t2 = clock()
        for report in reports:
            metrics.observe("bench", "windows", report.records, now)
        metrics.take()
        t3 = clock()
        spent["decode"] += t1 - t0
        spent["validate"] += t2 - t1
        spent["observe"] += t3 - t2
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mix", choices=["steady", "storm"], default="steady")
    ap.add_argument("--reports", type=int, default=3000)
    ap.add_argument("--group", type=int, default=32)
    ap.add_argument("--passes", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {describe()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    devices = [(f"dev{i:04d}", "s") for i in range(200)]
    raws = [raw for raw, _ in build(devices, args.reports, 10, args.mix, 0)]
    now = time.time()
    passes = [one_pass(raws, args.group, now) for _ in range(args.passes)]
    per = {s: statistics.median(p[s] for p in passes) / args.reports * 1e6 for s in STAGES}
    stages = ", ".join(f"{s} {per[s]:.1f}" for s in STAGES)
    print(
        f"{args.mix}: {stages}; sum {sum(per.values()):.1f} us/report (median of"
        f" {args.passes} passes, {args.reports} reports in groups of {args.group})"
    )


if __name__ == "__main__":
    main()
