"""Agent cost on this machine, with ~300 processes running, against a real collector
process: CPU time of one measure+spool+send cycle (in this process), then the resident
memory and CPU share of a real ``fleetpulse-agent run`` process sampled from outside.

    python -m bench.agent [--processes 300] [--cycles 30] [--run-seconds 120]
        [--interval 10] [--agent-bin PATH]

``--agent-bin`` picks the ``fleetpulse-agent`` to run, e.g. one installed in a virtual
environment that holds only the agent's dependencies (what an endpoint has).
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

from bench.collector import BIN, serve_argv
from bench.ingest import start
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
    ap.add_argument("--run-seconds", type=float, default=120.0)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--agent-bin", default=str(BIN / "fleetpulse-agent"))
    args = ap.parse_args()
    me = psutil.Process()
    sleepers = [
        subprocess.Popen(["sleep", "600"])
        for _ in range(max(0, args.processes - len(psutil.pids())))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/c.db"
        coll, addr, _ = start(serve_argv(db))
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
            run = run_process(args.agent_bin, addr, token, Path(tmp) / "run", args)
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
    print(
        f"fleetpulse-agent run ({args.agent_bin}, interval {args.interval:g} s, "
        f"{args.run_seconds:g} s): RSS steady {run.steady / 2**20:.1f} MiB "
        f"(median of the second half of {run.samples} samples), peak {run.peak / 2**20:.1f} MiB; "
        f"CPU {run.cpu_share * 100:.3f} % of one core"
    )


class RunFigures:
    def __init__(self, samples: list[int], cpu_seconds: float, seconds: float) -> None:
        self.samples = len(samples)
        half = sorted(samples[len(samples) // 2 :])
        self.steady = half[len(half) // 2]
        self.peak = max(samples)
        self.cpu_share = cpu_seconds / seconds


def run_process(
    agent_bin: str, addr: str, token: str, state: Path, args: argparse.Namespace
) -> RunFigures:
    """Enrolls a second device with ``agent_bin``, runs ``agent_bin run`` and samples its
    RSS (psutil, i.e. /proc/PID/statm) every 2 s and its CPU time at the end."""
    subprocess.run(
        [agent_bin, "enroll", "--collector", addr, "--token", token, "--state-dir", str(state)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    # the older key name: builds from before report_interval_seconds read it too
    (state / "config.toml").write_text(
        f"interval_seconds = {args.interval}\nboot_settle_seconds = 0\n"
    )
    proc = subprocess.Popen([agent_bin, "run", "--state-dir", str(state)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    watched = psutil.Process(proc.pid)
    samples: list[int] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.run_seconds:
            time.sleep(2.0)
            samples.append(watched.memory_info().rss)
        times = watched.cpu_times()
        cpu = times.user + times.system
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return RunFigures(samples, cpu, time.monotonic() - started)


if __name__ == "__main__":
    main()
