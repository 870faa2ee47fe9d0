"""Soak: a simulated fleet against a real collector process for a bounded time, watching
memory on both sides and counting every record at the end.

    python -m bench.soak --minutes 10 --devices 200 [--db sqlite|postgresql://...]

Half the devices live through a day of history (a boot, a sign-in, four apps) every
``--day-every`` seconds; the other half start, advance and complete live sign-ins every
second (kept apart because the simulator names a live session's later records after the
device's newest session, so a day generated while a session is live would give its
completion the natural key of that day's sign-in). Every second every device sends its
spool through the agent's real Spool and Sender.
RSS of the collector process (psutil on its pid) and of this load process are sampled
every ``--sample-seconds``. At the end the spools are drained and the store is counted
against what the fleet generated: lost and duplicated records must both be 0 (exit 1
otherwise).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import psutil

from bench.collector import BIN, serve_argv
from bench.ingest import start
from bench.machine import describe
from fleetpulse.sim.simulate import SimulatedFleet
from fleetpulse.v1 import telemetry_pb2 as pb

MiB = 2**20


@dataclass
class Rss:
    name: str
    samples: list[tuple[float, int]] = field(default_factory=list)

    def line(self) -> str:
        values = [v for _, v in self.samples]
        start, end, peak = values[0], values[-1], max(values)
        half = values[len(values) // 2]
        return (
            f"{self.name:<10} start {start / MiB:7.1f} MiB  end {end / MiB:7.1f} MiB  "
            f"peak {peak / MiB:7.1f} MiB  growth {(end - start) / MiB:+7.1f} MiB "
            f"(second half {(end - half) / MiB:+6.1f} MiB)"
        )


TABLES = {"boot": "boots", "signin": "signins", "app_usage": "app_usage"}


def _stored(db: str) -> tuple[dict[str, list[tuple[str, int]]], int]:
    """(device_id, seq) of every stored boot, sign-in and app usage; live sign-in rows."""
    queries = {k: f"SELECT device_id, seq FROM {t}" for k, t in TABLES.items()}
    live = "SELECT COUNT(*) FROM signins_in_progress"
    if db.startswith("sqlite:///"):
        with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
            return (
                {k: [(str(d), int(s)) for d, s in conn.execute(q)] for k, q in queries.items()},
                int(conn.execute(live).fetchone()[0]),
            )
    import psycopg

    with psycopg.connect(db) as pg:
        row = pg.execute(live).fetchone()
        assert row is not None  # COUNT(*) always returns one row
        return (
            {
                k: [(str(d), int(s)) for d, s in pg.execute(q).fetchall()]
                for k, q in queries.items()
            },
            int(row[0]),
        )


def _snapshot(fleet: SimulatedFleet, into: dict[str, set[tuple[str, int]]]) -> None:
    """Adds every spooled boot, complete sign-in and app usage to ``into``, by table."""
    for dev in fleet.devices:
        for seq, payload in dev.spool.peek(limit=10**6, max_bytes=10**12):
            rec = pb.Record.FromString(payload)
            body = str(rec.WhichOneof("body"))
            if body == "signin" and rec.signin.state == pb.SIGNIN_STATE_IN_PROGRESS:
                continue
            if body in into:
                into[body].add((dev.device_id, seq))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a URL")
    ap.add_argument("--sample-seconds", type=float, default=5.0)
    ap.add_argument(
        "--day-every", type=float, default=10.0, help="seconds between days of history per device"
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/soak.db" if args.db == "sqlite" else args.db
        proc, addr, _ = start(serve_argv(db, "--device-rate", "0"))
        collector = psutil.Process(proc.pid)
        me = psutil.Process(os.getpid())
        rss = {"collector": Rss("collector"), "load": Rss("load")}
        stop = threading.Event()

        def sample() -> None:
            while True:
                now = time.monotonic()
                rss["collector"].samples.append((now, collector.memory_info().rss))
                rss["load"].samples.append((now, me.memory_info().rss))
                if stop.wait(args.sample_seconds):
                    return

        fleets: list[SimulatedFleet] = []
        try:
            tokens = []
            for site in ("north", "south", "east"):
                made = subprocess.run(
                    [
                        str(BIN / "fleetpulse-collector"),
                        "token",
                        "create",
                        "--site",
                        site,
                        "--db",
                        db,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                tokens.append(made.stdout.strip())
            days = SimulatedFleet(
                addr, tokens, args.devices // 2, seed=args.seed, batch_records=200
            )
            fleets.append(days)
            live = SimulatedFleet(
                addr,
                tokens,
                args.devices - args.devices // 2,
                seed=args.seed + 1,
                batch_records=200,
            )
            fleets.append(live)
            for fleet in fleets:
                fleet.enroll()
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            expected: dict[str, set[tuple[str, int]]] = {k: set() for k in TABLES}
            began = time.monotonic()
            end = began + args.minutes * 60
            next_day = began
            rounds = acked = failed_rounds = 0
            send_times: list[float] = []
            while time.monotonic() < end:
                tick = time.monotonic()
                if tick >= next_day:
                    days.history(1)
                    next_day = tick + args.day_every
                live.live_step(time.time(), start_probability=0.1)
                t0 = time.monotonic()
                for fleet in fleets:
                    _snapshot(fleet, expected)
                    got, unsent = fleet.send(workers=4)
                    acked += got
                    failed_rounds += unsent > 0
                send_times.append(time.monotonic() - t0)
                rounds += 1
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            for fleet in fleets:  # drain what is left
                for _ in range(30):
                    _snapshot(fleet, expected)
                    got, unsent = fleet.send(workers=4)
                    acked += got
                    if unsent == 0:
                        break
            elapsed = time.monotonic() - began
            stop.set()
            sampler.join(timeout=10)
            rss["collector"].samples.append((time.monotonic(), collector.memory_info().rss))
            rss["load"].samples.append((time.monotonic(), me.memory_info().rss))
            stored, live_rows = _stored(db)
        finally:
            stop.set()
            for fleet in fleets:
                fleet.close()
            proc.terminate()
            code = proc.wait(timeout=60)

        live_now = sum(1 for d in live.devices if d.live)
        # Per record: lost = generated but not stored; duplicated = stored more than once,
        # or stored without having been generated. Counts are checked against the truth too.
        lost = sum(len(expected[k] - set(stored[k])) for k in TABLES)
        dup = sum(len(stored[k]) - len(set(stored[k]) & expected[k]) for k in TABLES)
        want = {
            "boot": sum(f.truth.by_kind.get("boot", 0) for f in fleets),
            "signin": sum(len(f.truth.signins) for f in fleets),
            "app_usage": sum(f.truth.by_kind.get("app_usage", 0) for f in fleets),
        }
        generated = sum(f.truth.records for f in fleets)
        by_kind = {
            k: sum(f.truth.by_kind.get(k, 0) for f in fleets)
            for k in ("boot", "signin", "app_usage")
        }
        counts_ok = all(len(expected[k]) == want[k] == len(stored[k]) for k in TABLES)
        counts_ok = counts_ok and live_rows == live_now
        print(
            f"command: python -m bench.soak --minutes {args.minutes:g} --devices "
            f"{args.devices}" + (f" --db {args.db}" if args.db != "sqlite" else "")
        )
        print(f"machine: {describe()}")
        print(
            f"duration {elapsed:.0f} s, {rounds} rounds, {len(rss['collector'].samples)} RSS "
            f"samples every {args.sample_seconds:g} s; collector exit code {code}"
        )
        for r in rss.values():
            print(r.line())
        print(
            f"records generated {generated} ({by_kind}); acknowledged {acked}; "
            f"rounds with a failed send {failed_rounds}"
        )
        print(
            f"send round: median {statistics.median(send_times) * 1000:.0f} ms, "
            f"max {max(send_times) * 1000:.0f} ms for {args.devices} devices"
        )
        print(
            "stored/generated: "
            + ", ".join(f"{k} {len(stored[k])}/{want[k]}" for k in TABLES)
            + f", sign-ins in progress {live_rows}/{live_now}"
        )
        print(f"lost {lost}, duplicated {dup} (per (device_id, seq)); counts match: {counts_ok}")
        return 0 if lost == 0 and dup == 0 and counts_ok and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
