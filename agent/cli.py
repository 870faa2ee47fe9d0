"""The ``fleetpulse-agent`` command line."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from agent import sender as sender_mod
from agent.config import AgentConfig, Credentials, default_state_dir
from agent.errors import AgentError, ConfigError, EnrollmentError
from agent.platform.env import Env
from agent.runner import Agent
from agent.sources.facts import device_facts
from agent.spool import Spool

app = typer.Typer(
    help="fleetpulse agent: measures boot, sign-in and app usage and reports them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State directory (default: $FLEETPULSE_STATE_DIR or per-OS)."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML settings file (default: STATE_DIR/config.toml)."),
]


def _state(state_dir: Path | None) -> Path:
    return state_dir or default_state_dir()


def _agent(state_dir: Path | None, config: Path | None = None) -> Agent:
    sd = _state(state_dir)
    creds = Credentials.load(sd)
    cfg = AgentConfig.load(config or sd / "config.toml")
    return Agent(sd, cfg, creds)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@app.command()
def enroll(
    collector: Annotated[str, typer.Option(help="Collector address HOST:PORT.")],
    token: Annotated[
        str, typer.Option(help="Enrollment token from 'fleetpulse-collector token create'.")
    ],
    ca_cert: Annotated[
        Path | None, typer.Option(help="CA certificate to verify the collector.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow plaintext to a non-loopback collector.")
    ] = False,
    client_cert: Annotated[
        Path | None, typer.Option(help="Client certificate for mTLS (PEM).")
    ] = None,
    client_key: Annotated[Path | None, typer.Option(help="Client private key (PEM).")] = None,
    state_dir: StateDir = None,
) -> None:
    """Exchange an enrollment token for this device's credential."""
    sd = _state(state_dir)
    facts = device_facts(Env(state_dir=str(sd)))
    ca = str(ca_cert.resolve()) if ca_cert else None
    cert = str(client_cert.resolve()) if client_cert else None
    key = str(client_key.resolve()) if client_key else None
    got = sender_mod.enroll(collector, token, facts, ca, insecure, client_cert=cert, client_key=key)
    creds = Credentials(
        device_id=got.device_id,
        device_secret=got.device_secret,
        collector=collector,
        site=got.site,
        user_hash_key=got.user_hash_key.hex(),
        ca_cert=ca,
        insecure=insecure,
        client_cert=cert,
        client_key=key,
    )
    path = creds.save(sd)
    typer.echo(f"enrolled as {got.device_id} (site {got.site}); credential in {path}")


@app.command()
def once(
    state_dir: StateDir = None,
    config: ConfigFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records measured.")] = False,
) -> None:
    """One measure + spool + send cycle."""
    agent = _agent(state_dir, config)
    try:
        result = agent.cycle()
    finally:
        agent.close()
    if as_json:
        out = [{"kind": r.kind.value, **_jsonable(asdict(r))} for r in result.measured]
        typer.echo(json.dumps(out, indent=2))
    sent = result.sent
    if sent is not None and not sent.ok:
        typer.echo(
            f"warning: collector unreachable ({sent.error}); "
            f"{sent.remaining} record(s) kept in the spool",
            err=True,
        )


@app.command()
def run(state_dir: StateDir = None, config: ConfigFile = None) -> None:
    """Run the agent loop until SIGTERM/SIGINT."""
    logging.getLogger().setLevel(logging.INFO)
    agent = _agent(state_dir, config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        agent.run(stop)
    finally:
        agent.close()


@app.command()
def status(state_dir: StateDir = None) -> None:
    """Show the enrolled identity and what waits in the spool."""
    sd = _state(state_dir)
    creds = Credentials.load(sd)
    spool = Spool(str(sd / "spool.db"))
    try:
        stats = spool.stats()
    finally:
        spool.close()
    typer.echo(f"device:    {creds.device_id} (site {creds.site})")
    typer.echo(f"collector: {creds.collector}")
    typer.echo(f"spool:     {stats.records} record(s), {stats.bytes} bytes {stats.by_kind}")
    typer.echo(f"dropped:   {stats.dropped or 0}; rejected by collector: {stats.rejected}")


@app.command("session-ready")
def session_ready(state_dir: StateDir = None) -> None:
    """Mark the desktop usable now (run from the user's autostart)."""
    ready = _state(state_dir) / "ready"
    ready.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser()
    marker = {"at": time.time(), "session_id": os.environ.get("XDG_SESSION_ID")}
    (ready / user).write_text(json.dumps(marker), encoding="utf-8")


@app.command()
def simulate(
    collector: Annotated[str, typer.Option(help="Collector address HOST:PORT.")],
    token: Annotated[list[str], typer.Option(help="Enrollment token (repeat for more sites).")],
    devices: Annotated[int, typer.Option(help="Simulated devices.")] = 100,
    days: Annotated[int, typer.Option(help="Days of history to send first.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same fleet).")] = 1,
    rate: Annotated[float, typer.Option(help="Live sign-ins started per second (0 = none).")] = 0.0,
    duration: Annotated[float, typer.Option(help="Seconds of live traffic after history.")] = 0.0,
    ca_cert: Annotated[Path | None, typer.Option(help="CA certificate of the collector.")] = None,
    insecure: Annotated[bool, typer.Option(help="Plaintext to a non-loopback collector.")] = False,
) -> None:
    """Enroll a realistic synthetic fleet and send its history (and live sign-ins)."""
    from agent.simulate import SimulatedFleet

    if devices < 1 or days < 0 or rate < 0:
        raise ConfigError("--devices must be >= 1, --days and --rate >= 0")
    fleet = SimulatedFleet(
        collector, token, devices, seed, str(ca_cert) if ca_cert else None, insecure
    )
    try:
        fleet.enroll()
        fleet.history(days)
        acked, remaining = fleet.send()
        end = time.monotonic() + duration
        while rate > 0 and time.monotonic() < end:
            fleet.live_step(time.time(), start_probability=min(1.0, rate / devices))
            got, remaining = fleet.send()
            acked += got
            time.sleep(1.0)
    finally:
        fleet.close()
    slow = sum(1 for *_, total in fleet.truth.signins if total >= 1800)
    typer.echo(
        json.dumps(
            {
                "devices": devices,
                "records": fleet.truth.records,
                "by_kind": fleet.truth.by_kind,
                "acked": acked,
                "unsent": remaining,
                "signins": len(fleet.truth.signins),
                "signins_30min_or_more": slow,
            }
        )
    )
    if remaining:
        raise EnrollmentError(f"{remaining} record(s) could not be delivered")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except AgentError as exc:
        print(f"fleetpulse-agent: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
