"""``fleetpulse-collector demo``: a collector on a temporary SQLite database, a simulated
fleet and this machine's real agent reporting to it, with a live one-screen summary."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from fleetpulse.agent.config import AgentConfig, Credentials
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.runner import Agent
from fleetpulse.agent.sender import enroll
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.collector import auth
from fleetpulse.collector.report.sessions import session_figures
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.collector.store.base import Store
from fleetpulse.sim.simulate import SimulatedFleet

SITES = ("north", "south", "east", "west", "hq")
LOCAL_SITE = "this-machine"


def _token(store: Store, site: str) -> str:
    token_id, token, token_hash = auth.new_token()
    store.create_token(token_id, token_hash, site, time.time(), time.time() + 3600, None)
    return token


def _fleet_loop(fleet: SimulatedFleet, stop: threading.Event) -> None:
    fleet.enroll()
    fleet.history(days=7)
    fleet.send()
    while not stop.wait(2.0):
        fleet.live_step(time.time(), start_probability=0.05)
        fleet.send()


def _local_agent(target: str, token: str, state_dir: Path, stop: threading.Event) -> None:
    env = Env(state_dir=str(state_dir))
    got = enroll(target, token, device_facts(env))
    creds = Credentials(got.device_id, got.device_secret, target, got.site, got.user_hash_key.hex())
    creds.save(state_dir)
    agent = Agent(state_dir, AgentConfig(report_interval_seconds=10), creds, env=env)
    try:
        agent.run(stop)
    finally:
        agent.close()


def summary(collector: Collector, started: float) -> str:
    now = time.time()
    state = collector.fleet.state
    # the report's SLA sign-ins: first-login and after-update ones out
    rows = [
        r
        for r in collector.store.signins_between(now - 28 * 86400, now)
        if not r.first_login and not r.after_update
    ]
    totals = sorted(r.total_seconds for r in rows if r.total_seconds is not None)
    devices = sum(state.devices.values())
    reporting = sum(n for k, n in state.devices.items() if k[3] == "reporting")
    lines = [f"fleetpulse demo — {now - started:.0f}s — {devices} devices, {reporting} reporting"]
    if len(totals) >= 2:
        q = statistics.quantiles(totals, n=100, method="inclusive")
        slow = sum(t >= 1800 for t in totals)
        lines.append(
            f"sign-ins (28d): {len(totals)}  p50 {q[49]:.0f}s  p95 {q[94]:.0f}s  "
            f"within 120s {sum(t <= 120 for t in totals) / len(totals):.1%}  "
            f"≥30 min: {slow}"
        )
    else:
        lines.append("sign-ins (28d): none yet")
    live = sum(state.in_progress.values())
    longest = max(state.longest_in_progress.values(), default=None)
    lines.append(
        f"in progress now: {live}"
        + ("" if not live or longest is None else f" (longest {longest:.0f}s)")
    )
    by_site: dict[str, list[float]] = {}
    for r in rows:
        if r.total_seconds is not None:
            by_site.setdefault(r.site, []).append(r.total_seconds)
    ranked = sorted(((statistics.median(v), s, len(v)) for s, v in by_site.items()), reverse=True)
    lines.append(
        "slowest sites (median sign-in): "
        + ", ".join(f"{s} {m:.0f}s (n={n})" for m, s, n in ranked[:3])
        if ranked
        else "slowest sites: -"
    )
    sessions = session_figures(collector.store, now - 28 * 86400, now)
    lines.append(
        f"sessions (28d): {sum(d.ended for d in sessions.devices)} with a known length;"
        f" barely used devices: {len(sessions.barely_used)}, unknown: {len(sessions.unknown)}"
    )
    return "\n".join(lines)


async def run_demo(
    devices: int, listen: str, metrics_listen: str, duration: float, db: str | None
) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="fleetpulse-demo-")
    db_url = db or f"sqlite:///{Path(tmp.name) / 'demo.db'}"
    collector = Collector(
        ServerConfig(db=db_url, listen=listen, metrics_listen=metrics_listen, refresh_seconds=2.0)
    )
    await collector.start()
    print(f"collector gRPC  {collector.grpc_address}")
    print(f"metrics         {collector.metrics_url}")
    print(f"database        {db_url}")
    print(f"try: fleetpulse-collector devices --db {db_url} --slowest 5", flush=True)
    stop = threading.Event()
    tokens = [_token(collector.store, s) for s in SITES]
    fleet = SimulatedFleet(collector.grpc_address, tokens, devices, seed=7, session_ends=True)
    threads = [
        threading.Thread(target=_fleet_loop, args=(fleet, stop), daemon=True),
        threading.Thread(
            target=_local_agent,
            daemon=True,
            args=(
                collector.grpc_address,
                _token(collector.store, LOCAL_SITE),
                Path(tmp.name) / "agent",
                stop,
            ),
        ),
    ]
    for t in threads:
        t.start()
    started = time.time()
    tty = sys.stdout.isatty()
    try:
        while duration <= 0 or time.time() - started < duration:
            await asyncio.sleep(
                min(2.0, max(0.1, duration - (time.time() - started))) if duration > 0 else 2.0
            )
            text = summary(collector, started)
            print(("\x1b[H\x1b[2J" if tty else "\n") + text, flush=True)
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        stop.set()
        for t in threads:
            await asyncio.to_thread(t.join, 15)
        await collector.stop()
        fleet.close()
        tmp.cleanup()
    print("demo finished")
