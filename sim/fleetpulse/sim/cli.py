"""The commands that need both sides: ``fleetpulse-collector demo`` and
``fleetpulse-agent simulate``.

Neither CLI imports this package: it registers these functions as typer commands under the
entry-point groups of ``fleetpulse.contract.commands`` (pyproject.toml), and each CLI adds
them when they are asked for.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from fleetpulse.agent.errors import ConfigError, EnrollmentError
from fleetpulse.sim.demo import run_demo
from fleetpulse.sim.simulate import SimulatedFleet


def simulate(
    collector: Annotated[str, typer.Option(help="Collector address HOST:PORT.")],
    token: Annotated[list[str], typer.Option(help="Enrollment token (repeat for more sites).")],
    devices: Annotated[int, typer.Option(help="Simulated devices.")] = 100,
    days: Annotated[int, typer.Option(help="Days of history to send first.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same fleet).")] = 1,
    rate: Annotated[float, typer.Option(help="Live sign-ins started per second (0 = none).")] = 0.0,
    duration: Annotated[float, typer.Option(help="Seconds of live traffic after history.")] = 0.0,
    ca_cert: Annotated[Path | None, typer.Option(help="CA certificate of the collector.")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Plaintext to a non-loopback collector.")
    ] = False,
    give_up_after: Annotated[
        float, typer.Option(help="Stop retrying after this many seconds without progress.")
    ] = 300.0,
    session_ends: Annotated[
        bool,
        typer.Option(
            "--session-ends", help="Current agents also send when each sign-in's session ended."
        ),
    ] = False,
    contributor_names: Annotated[
        int,
        typer.Option(
            help="Also give each Windows sign-in 3 startup apps named from this many "
            "distinct names (tests the label cap; 0 = none)."
        ),
    ] = 0,
) -> None:
    """Enroll a realistic synthetic fleet and send its history (and live sign-ins).

    Failed sends are retried like the agent's (backoff with jitter, retry hints honoured);
    exit 1 if records remain undelivered when it gives up."""
    if devices < 1 or days < 0 or rate < 0 or not give_up_after >= 0 or contributor_names < 0:
        raise ConfigError(
            "--devices must be >= 1, --days, --rate, --give-up-after and --contributor-names >= 0"
        )
    fleet = SimulatedFleet(
        collector,
        token,
        devices,
        seed,
        str(ca_cert) if ca_cert else None,
        insecure,
        session_ends=session_ends,
        contributor_names=contributor_names,
    )
    try:
        fleet.enroll()
        fleet.history(days)
        acked, remaining = fleet.deliver(give_up_after)
        end = time.monotonic() + duration
        while rate > 0 and time.monotonic() < end:
            fleet.live_step(time.time(), start_probability=min(1.0, rate / devices))
            got, remaining = fleet.send()
            acked += got
            time.sleep(1.0)
        if rate > 0 and remaining:  # what the last live steps could not send
            got, remaining = fleet.deliver(give_up_after)
            acked += got
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


def demo(
    devices: Annotated[int, typer.Option(help="Simulated devices.")] = 25,
    listen: Annotated[
        str, typer.Option(help="gRPC HOST:PORT (0 = any free port).")
    ] = "127.0.0.1:0",
    metrics_listen: Annotated[str, typer.Option(help="/metrics HOST:PORT.")] = "127.0.0.1:0",
    duration: Annotated[float, typer.Option(help="Stop after S seconds (0 = until Ctrl-C).")] = 0,
    db: Annotated[
        str | None, typer.Option(help="Store (default: a temporary SQLite file).")
    ] = None,
) -> None:
    """A collector, a simulated fleet and this machine's real agent, with a live summary."""
    asyncio.run(run_demo(devices, listen, metrics_listen, duration, db))
