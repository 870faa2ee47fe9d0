"""The service loop every endpoint keeps running (``fleetpulse-agent run``), without the
command-line framework: the service manager starts it with at most ``--state-dir`` and
``--config``, and typer with click costs the resident process about 3 MiB that it would
hold for as long as the machine is up (docs/benchmarks.md, agent RSS)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from fleetpulse.agent.config import AgentConfig, Credentials, default_state_dir
from fleetpulse.agent.runner import Agent

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def open_agent(state_dir: Path | None, config: Path | None = None) -> Agent:
    """The enrolled agent of ``state_dir`` (default: per OS) with its settings.

    Raises ConfigError (not enrolled, unreadable or out-of-range settings)."""
    sd = state_dir or default_state_dir()
    creds = Credentials.load(sd)
    cfg = AgentConfig.load(config or sd / "config.toml")
    return Agent(sd, cfg, creds)


def serve(agent: Agent, stop: threading.Event) -> int:
    """Runs ``agent``'s loop under the watchdog until ``stop`` is set, then closes it (the
    spool keeps what was not sent). Returns 0, or 75 (EX_TEMPFAIL) when the watchdog stopped
    it past its RSS ceiling (restart me). Callable from any thread (the Windows service)."""
    from fleetpulse.agent.watchdog import Guard, Limits, Watchdog

    guard = Guard(agent, stop, Watchdog(Limits.from_env())).start()
    try:
        agent.run(stop)
    finally:
        agent.close()
    return guard.exit_code or 0


def run_service(state_dir: Path | None, config: Path | None = None) -> int:
    """Runs the agent loop until SIGTERM/SIGINT; returns the exit code: 0, or 75
    (EX_TEMPFAIL) when the watchdog stopped it past its RSS ceiling (restart me)."""
    from fleetpulse.agent.watchdog import Limits

    logging.getLogger().setLevel(logging.INFO)
    Limits.from_env()  # a bad ceiling is an error before the agent opens its spool
    agent = open_agent(state_dir, config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return serve(agent, stop)
