"""The ``fleetpulse-agent`` command line."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetpulse.agent import sender as sender_mod
from fleetpulse.agent.config import Credentials, default_state_dir
from fleetpulse.agent.errors import AgentError, ConfigError, EnrollmentError
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.runner import Agent
from fleetpulse.agent.service import LOG_FORMAT, open_agent, run_service
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.agent.sources.foreground import FLUSH_SECONDS
from fleetpulse.agent.spool import inspect as inspect_spool
from fleetpulse.contract.commands import AGENT_COMMANDS, add_commands

app = typer.Typer(
    help="fleetpulse agent: measures boot, sign-in and app usage and reports them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: wraps at any width, never cuts an option name
)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State directory (default: $FLEETPULSE_STATE_DIR or per-OS)."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML settings file (default: STATE_DIR/config.toml)."),
]


#: gRPC status codes with which the collector refuses a device's credential (revoked,
#: unknown, or used for another device's data): collector/fleetpulse/collector/errors.py.
REFUSED = ("UNAUTHENTICATED", "PERMISSION_DENIED")


def _state(state_dir: Path | None) -> Path:
    return state_dir or default_state_dir()


def _agent(state_dir: Path | None, config: Path | None = None) -> Agent:
    return open_agent(state_dir, config)


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
        str | None,
        typer.Option(help="Enrollment token (visible in the process list: prefer --token-file)."),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(help="File holding the enrollment token ('-': standard input)."),
    ] = None,
    ca_cert: Annotated[
        Path | None, typer.Option(help="CA certificate to verify the collector.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow plaintext to a non-loopback collector.")
    ] = False,
    client_cert: Annotated[
        Path | None, typer.Option(help="Client certificate for mTLS (PEM).")
    ] = None,
    client_key: Annotated[Path | None, typer.Option(help="Client private key (PEM).")] = None,
    state_dir: StateDir = None,
) -> None:
    """Exchange an enrollment token for this device's credential."""
    from fleetpulse.agent.install.tokens import choose_token

    secret = choose_token(token, token_file)
    sd = _state(state_dir)
    facts = device_facts(Env(state_dir=str(sd)))
    ca = str(ca_cert.resolve()) if ca_cert else None
    cert = str(client_cert.resolve()) if client_cert else None
    key = str(client_key.resolve()) if client_key else None
    got = sender_mod.enroll(
        collector, secret, facts, ca, insecure, client_cert=cert, client_key=key
    )
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
    """One measure + spool + send cycle.

    Exits 1 when the collector refuses the credential (revoked or unknown device); a
    collector that cannot be reached is a warning (the records stay in the spool)."""
    # once reports a refused report itself (below), in one line: not the sender's log too
    logging.getLogger("fleetpulse.agent.sender").addFilter(
        lambda record: not record.getMessage().startswith("collector refused the report")
    )
    agent = _agent(state_dir, config)
    try:
        result = agent.cycle()
    finally:
        agent.close()
    if as_json:
        out = [{"kind": r.kind.value, **_jsonable(asdict(r))} for r in result.measured]
        typer.echo(json.dumps(out, indent=2))
    sent = result.sent
    if sent is not None and sent.code in REFUSED:
        # Not a passing outage: this credential will never be accepted again.
        raise ConfigError(
            f"the collector refused this device's credential ({sent.error}): the device was "
            "revoked or is unknown to this collector; re-enrol with a new token "
            "(fleetpulse-agent enroll --collector HOST:PORT --token fpt_...)"
        )
    if sent is not None and not sent.ok:
        typer.echo(
            f"warning: collector unreachable ({sent.error}); "
            f"{sent.remaining} record(s) kept in the spool",
            err=True,
        )


@app.command(short_help="Run the agent loop (the service).")
def run(state_dir: StateDir = None, config: ConfigFile = None) -> None:
    """Run the agent loop until SIGTERM/SIGINT (exit 75 past the RSS ceiling: restart me)."""
    code = run_service(state_dir, config)
    if code:
        raise typer.Exit(code)


@app.command(short_help="Show the identity and the spool.")
def status(state_dir: StateDir = None) -> None:
    """Show the enrolled identity and what waits in the spool (read-only: a damaged spool
    is described, and left for the agent to salvage when it next opens it)."""
    sd = _state(state_dir)
    creds = Credentials.load(sd)
    path = sd / "spool.db"
    seen = inspect_spool(str(path))
    typer.echo(f"device:    {creds.device_id} (site {creds.site})")
    typer.echo(f"collector: {creds.collector}")
    stats = seen.stats
    if not seen.exists:
        typer.echo(f"spool:     none yet ({path})")
    elif stats is not None:
        typer.echo(f"spool:     {stats.records} record(s), {stats.bytes} bytes {stats.by_kind}")
        typer.echo(f"dropped:   {stats.dropped or 0}; rejected by collector: {stats.rejected}")
        if stats.corrupt_spools or stats.damage_unknown:
            typer.echo(
                f"damage:    salvaged {stats.corrupt_spools} time(s), "
                f"{stats.dropped.get('unreadable', 0)} record(s) unreadable; "
                f"{stats.damage_unknown} loss(es) of unknown size"
            )
    for line in seen.damage:
        typer.echo(f"DAMAGED:   {path}: {line}")
    if seen.salvage is not None:
        got = seen.salvage
        typer.echo(
            f"DAMAGED:   {len(got.rows)} record(s) readable, {got.unreadable_text} unreadable;"
            " the agent salvages the readable ones when it next starts"
        )


@app.command("session-ready", short_help="Mark the desktop usable now.")
def session_ready(state_dir: StateDir = None) -> None:
    """Mark the desktop usable now (run from the user's autostart)."""
    ready = _state(state_dir) / "ready"
    ready.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser()
    marker = {"at": time.time(), "session_id": os.environ.get("XDG_SESSION_ID")}
    (ready / user).write_text(json.dumps(marker), encoding="utf-8")


@app.command(short_help="Hand this session's foreground time to the service.")
def foreground(
    state_dir: StateDir = None,
    flush_seconds: Annotated[
        float, typer.Option(help="Seconds between hand-over files (1..900).")
    ] = FLUSH_SECONDS,
) -> None:
    """Sample the foreground executable every second in this desktop session and write
    its seconds to STATE_DIR/foreground/ for the service (Windows: started at each sign-in
    by the \\fleetpulse\\foreground task). Runs until SIGTERM/SIGINT, sign-out, or
    uninstall; exits 0 at once when this session's helper already runs."""
    from fleetpulse.agent.helper import run_helper

    raise typer.Exit(run_helper(_state(state_dir), flush_seconds))


def _exit_with(message: str, code: int) -> None:
    typer.echo(f"fleetpulse-agent: error: {message}", err=True)
    raise typer.Exit(code)


@app.command(short_help="Install the agent as a service.")
def install(
    collector: Annotated[str, typer.Option(help="Collector address HOST:PORT.")],
    token: Annotated[
        str | None, typer.Option(help="Enrollment token (used only if not enrolled there yet).")
    ] = None,
    token_file: Annotated[
        str | None, typer.Option(help="File holding the enrollment token ('-': standard input).")
    ] = None,
    ca_cert: Annotated[
        Path | None, typer.Option(help="CA certificate of the collector (copied in).")
    ] = None,
    client_cert: Annotated[
        Path | None, typer.Option(help="Client certificate for mTLS (copied in).")
    ] = None,
    client_key: Annotated[Path | None, typer.Option(help="Client key (copied in, 0600).")] = None,
    site: Annotated[
        str | None, typer.Option(help="The token's site; enrolled elsewhere = enroll again.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow plaintext to a non-loopback collector.")
    ] = False,
    root: Annotated[
        Path | None, typer.Option(help="Install under DIR instead of / (tests, images).")
    ] = None,
    no_start: Annotated[
        bool, typer.Option("--no-start", help="Register the service but do not start it.")
    ] = False,
) -> None:
    """Install (or bring up to date) the agent as a service: config, enrollment, service.

    Exit codes: 0 installed or already installed, 1 user error, 2 enrollment failed,
    3 service registration failed. Safe to run again with the same arguments."""
    from fleetpulse.agent.install import (
        EXIT_ENROLLMENT_FAILED,
        EXIT_SERVICE_FAILED,
        Options,
        ServiceError,
        layout_for,
        runner_from_env,
    )
    from fleetpulse.agent.install import install as do_install
    from fleetpulse.agent.install.tokens import choose_token

    opts = Options(
        collector,
        choose_token(token, token_file),
        ca_cert,
        client_cert,
        client_key,
        site,
        insecure,
        start=not no_start,
    )
    try:
        outcome = do_install(opts, layout_for(root=root), runner_from_env())
    except EnrollmentError as exc:
        _exit_with(str(exc), EXIT_ENROLLMENT_FAILED)
        return
    except ServiceError as exc:
        _exit_with(f"service registration failed: {exc}", EXIT_SERVICE_FAILED)
        return
    except OSError as exc:
        raise ConfigError(f"{exc.filename or 'install'}: {exc.strerror or exc}") from None
    if outcome.changes:
        typer.echo(
            f"installed: device {outcome.device_id} (site {outcome.site}), "
            f"{len(outcome.changes)} change(s)"
        )
    else:
        typer.echo(
            f"already installed: device {outcome.device_id} (site {outcome.site}), nothing changed"
        )


@app.command()
def uninstall(
    root: Annotated[Path | None, typer.Option(help="The DIR given to install --root.")] = None,
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep the state directory (credential, spool).")
    ] = False,
) -> None:
    """Stop and remove the service and everything install created.

    Exit codes: 0 removed (or nothing to remove), 1 user error, 3 the service could not be
    stopped (nothing removed)."""
    from fleetpulse.agent.install import (
        EXIT_SERVICE_FAILED,
        ServiceError,
        layout_for,
        runner_from_env,
    )
    from fleetpulse.agent.install import uninstall as do_uninstall

    try:
        removed = do_uninstall(layout_for(root=root), runner_from_env(), keep_data)
    except ServiceError as exc:
        _exit_with(f"cannot stop the service: {exc}", EXIT_SERVICE_FAILED)
        return
    except OSError as exc:
        raise ConfigError(f"{exc.filename or 'uninstall'}: {exc.strerror or exc}") from None
    typer.echo(
        f"uninstalled: {len(removed)} path(s) removed"
        if removed
        else "not installed: nothing to remove"
    )


@app.command(short_help="Check why this agent can or cannot report.")
def doctor(state_dir: StateDir = None, config: ConfigFile = None) -> None:
    """Check why this agent can or cannot report: config, permissions, DNS, TCP, TLS,
    credential, clock, and which measurements this machine gives. Exit 0 if all OK."""
    from fleetpulse.agent.doctor import diagnose, report

    raise typer.Exit(report(diagnose(_state(state_dir), config), typer.echo))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    add_commands(app, AGENT_COMMANDS, sys.argv[1:])
    try:
        app()
    except AgentError as exc:
        print(f"fleetpulse-agent: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
