"""Agent cost on this machine: CPU time of one measure+spool+send cycle and steady RSS,
with ~300 processes running, against a real collector process.

    python -m bench.agent [--processes 300] [--cycles 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.ingest import BIN, start
from bench.machine import describe
from fleetpulse.agent.config import AgentConfig, Credentials
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.runner import Agent
from fleetpulse.agent.sender import enroll
from fleetpulse.agent.sources.apps import AppSource
from fleetpulse.agent.sources.facts import device_facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--processes", type=int, default=300)
    ap.add_argument("--cycles", type=int, default=30)
    args = ap.parse_args()
    me = psutil.Process()
    sleepers = [
        subprocess.Popen(["sleep", "600"])
        for _ in range(max(0, args.processes - len(psutil.pids())))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/c.db"
        coll, addr = start(
            [
                str(BIN / "fleetpulse-collector"),
                "serve",
                "--db",
                db,
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ]
        )
        try:
            token = subprocess.run(
                [
                    str(BIN / "fleetpulse-collector"),
                    "token",
                    "create",
                    "--site",
                    "bench",
                    "--db",
                    db,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            state = Path(tmp) / "agent"
            env = Env(state_dir=str(state))
            got = enroll(addr, token, device_facts(env))
            creds = Credentials(
                got.device_id, got.device_secret, addr, got.site, got.user_hash_key.hex()
            )
            user = me.username()
            # count this user's processes as "signed in", so app sampling does its full work
            apps = AppSource(env, users=lambda _env: {user})
            agent = Agent(
                state, AgentConfig(boot_settle_seconds=0), creds, env=env, app_source=apps
            )
            cpu: list[float] = []
            for _ in range(args.cycles):
                t0 = time.process_time()
                agent.cycle()
                cpu.append(time.process_time() - t0)
            rss = me.memory_info().rss
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            agent.close()
        finally:
            coll.terminate()
            coll.wait(timeout=30)
            for p in sleepers:
                p.kill()
                p.wait()
    steady = sorted(cpu[1:])[len(cpu[1:]) // 2]
    print(f"machine: {describe()}")
    print(f"processes running: {len(psutil.pids()) + len(sleepers)} (while measuring)")
    print(
        f"cycle CPU time: median {steady * 1000:.1f} ms, first {cpu[0] * 1000:.1f} ms, "
        f"max {max(cpu) * 1000:.1f} ms over {args.cycles} cycles"
    )
    print(f"CPU share at the default 60 s interval: {steady / 60 * 100:.3f} % of one core")
    print(f"RSS after {args.cycles} cycles: {rss / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)")
    print(f"python: {sys.version.split()[0]}, pid {os.getpid()}")


if __name__ == "__main__":
    main()
