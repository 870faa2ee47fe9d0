"""The ``fleetpulse-collector`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from fleetpulse.collector import auth, redact
from fleetpulse.collector.durations import parse_duration
from fleetpulse.collector.errors import CollectorError, ConfigError
from fleetpulse.collector.model import SiteCoverage
from fleetpulse.collector.report import ReportOptions, write_report
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.collector.settings import parse_setting
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.writer import MAX_QUEUED_RECORDS
from fleetpulse.contract.commands import COLLECTOR_COMMANDS, add_commands

app = typer.Typer(
    help="fleetpulse collector: receives agent reports, stores them, exposes metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Enrollment tokens.", no_args_is_help=True)
inventory_app = typer.Typer(help="Expected devices per site.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(inventory_app, name="inventory")
settings_app = typer.Typer(help="Central agent settings per site.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")

Db = Annotated[str, typer.Option("--db", help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB")]


@app.command()
def serve(
    db: Db,
    listen: Annotated[str, typer.Option(help="gRPC HOST:PORT.")] = "127.0.0.1:50051",
    metrics_listen: Annotated[str, typer.Option(help="/metrics HOST:PORT.")] = "127.0.0.1:9464",
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server private key (PEM).")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Require client certs from this CA.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow plaintext on a non-loopback address.")
    ] = False,
    per_device_metrics: Annotated[bool, typer.Option(help="Export per-device gauges.")] = False,
    refresh_seconds: Annotated[
        float, typer.Option(help="How often fleet-state gauges are recomputed.")
    ] = 10.0,
    device_rate: Annotated[
        float,
        typer.Option(help="Reports per second per device, one per 500 records (0 = no limit)."),
    ] = 1.0,
    device_burst: Annotated[float, typer.Option(help="Reports a device may send at once.")] = 60.0,
    auth_failure_rate: Annotated[
        float,
        typer.Option(help="Failed authentications per second per peer address (0 = no limit)."),
    ] = 1.0,
    auth_failure_burst: Annotated[
        float, typer.Option(help="Failed authentications a peer address may make at once.")
    ] = 30.0,
    metrics_tls_cert: Annotated[
        Path | None, typer.Option(help="Serve /metrics over HTTPS.")
    ] = None,
    metrics_tls_key: Annotated[
        Path | None, typer.Option(help="Key for --metrics-tls-cert.")
    ] = None,
    app_top_n: Annotated[
        int, typer.Option(help="App label cap: the N most used apps keep their own label.")
    ] = 50,
    app_allowlist: Annotated[
        str, typer.Option(help="Comma-separated apps that always keep their own label.")
    ] = "",
    metrics_auth: Annotated[
        Path | None, typer.Option(help="Basic auth for /metrics: a file of user:bcrypt-hash lines.")
    ] = None,
    write_queue_records: Annotated[
        int,
        typer.Option(
            min=1, help="Records waiting for the database before reports get RESOURCE_EXHAUSTED."
        ),
    ] = MAX_QUEUED_RECORDS,
) -> None:
    """Run the collector until SIGTERM/SIGINT (in-flight reports are committed first)."""
    logging.getLogger().setLevel(logging.INFO)
    config = ServerConfig(
        db=db,
        listen=listen,
        metrics_listen=metrics_listen,
        tls_cert=tls_cert,
        tls_key=tls_key,
        client_ca=client_ca,
        insecure=insecure,
        per_device_metrics=per_device_metrics,
        refresh_seconds=refresh_seconds,
        device_rate=device_rate,
        device_burst=device_burst,
        auth_failure_rate=auth_failure_rate,
        auth_failure_burst=auth_failure_burst,
        metrics_tls_cert=metrics_tls_cert,
        metrics_tls_key=metrics_tls_key,
        metrics_auth=metrics_auth,
        app_top_n=app_top_n,
        app_allowlist=tuple(a.strip() for a in app_allowlist.split(",") if a.strip()),
        write_queue_records=write_queue_records,
    )
    asyncio.run(_serve(config))


async def _serve(config: ServerConfig) -> None:
    collector = Collector(config)
    await collector.start()
    print(f"gRPC    {collector.grpc_address}", flush=True)
    print(f"metrics {collector.metrics_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await collector.stop()


@app.command()
def migrate(db: Db) -> None:
    """Create the database's schema or bring it to this program's version (serve does
    the same at start; no other command changes a schema)."""
    store = open_store(db, Access.CREATE)
    try:
        before = store.schema_version()
        now = store.migrate()
    finally:
        store.close()
    if before == now:
        typer.echo(f"database schema is version {now}: nothing to do")
    elif before > now:
        typer.echo(f"database schema is version {before}, newer than this program's {now}")
    else:
        typer.echo(f"database schema migrated from version {before} to {now}")


@token_app.command("create")
def token_create(
    site: Annotated[str, typer.Option(help="Site the enrolled devices belong to.")],
    db: Db,
    expires: Annotated[str | None, typer.Option(help="Lifetime, e.g. 7d (default: none).")] = None,
    max_uses: Annotated[int | None, typer.Option(help="Enrollments allowed.")] = None,
) -> None:
    """Create an enrollment token; prints only the token (shown once)."""
    if not site.strip():
        raise ConfigError("--site must not be empty")
    if max_uses is not None and max_uses < 1:
        raise ConfigError("--max-uses must be at least 1")
    now = time.time()
    expires_at = now + parse_duration(expires) if expires else None
    store = open_store(db, Access.WRITE)
    try:
        token_id, token, token_hash = auth.new_token()
        store.create_token(token_id, token_hash, site.strip(), now, expires_at, max_uses)
    finally:
        store.close()
    typer.echo(token)


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


@token_app.command("list")
def token_list(db: Db) -> None:
    """List tokens: id, site, expiry, uses, last use, revoked."""
    store = open_store(db, Access.READ)
    try:
        tokens = store.tokens()
    finally:
        store.close()
    typer.echo(f"{'ID':<9} {'SITE':<16} {'EXPIRES':<17} {'USES':<9} {'LAST USED':<17} REVOKED")
    for t in tokens:
        uses = f"{t.uses}/{t.max_uses}" if t.max_uses else str(t.uses)
        typer.echo(
            f"{t.token_id:<9} {t.site:<16} {_when(t.expires_at):<17} {uses:<9} "
            f"{_when(t.last_used):<17} {_when(t.revoked_at)}"
        )


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id.")], db: Db) -> None:
    """Revoke a token: no further enrollments with it."""
    store = open_store(db, Access.WRITE)
    try:
        if not store.revoke_token(token_id, time.time()):
            raise ConfigError(f"no active token with id {token_id!r}")
    finally:
        store.close()
    typer.echo(f"revoked {token_id}")


devices_app = typer.Typer(help="Enrolled devices.", invoke_without_command=True)
app.add_typer(devices_app, name="devices")


@devices_app.callback()
def devices(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    ] = None,
    slowest: Annotated[
        int, typer.Option(help="Only the N devices with the slowest p95 sign-in.")
    ] = 0,
    silent_for: Annotated[
        str | None, typer.Option(help="Only devices silent this long, e.g. 24h.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    coverage: Annotated[
        bool, typer.Option(help="Rollout coverage per site and devices never enrolled.")
    ] = False,
) -> None:
    """List enrolled devices with their sign-in figures (or: devices revoke ID)."""
    if ctx.invoked_subcommand is not None:
        return
    if db is None:
        raise ConfigError("--db is required")
    if fmt not in ("table", "json"):
        raise ConfigError("--format must be table or json")
    now = time.time()
    store = open_store(db, Access.READ)
    try:
        rows = store.device_rows(now)
        sites = store.coverage() if coverage else []
    finally:
        store.close()
    if coverage:
        _print_coverage(sites, fmt)
        return
    if silent_for:
        limit = now - parse_duration(silent_for)
        rows = [r for r in rows if r.last_seen is None or r.last_seen < limit]
    if slowest:
        rows = sorted(
            (r for r in rows if r.p95_login_seconds is not None),
            key=lambda r: -(r.p95_login_seconds or 0),
        )[:slowest]
    if fmt == "json":
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    typer.echo(
        f"{'DEVICE':<36} {'HOSTNAME':<20} {'SITE':<12} {'OS':<8} {'SIGNINS':>7} "
        f"{'P95 LOGIN':>9} {'LAST BOOT':>9} LAST SEEN"
    )

    def secs(v: float | None) -> str:
        return "unknown" if v is None else f"{v:.0f}s"

    for r in rows:
        typer.echo(
            f"{r.device_id:<36} {r.hostname[:20]:<20} {r.site[:12]:<12} {r.os:<8} "
            f"{r.signins:>7} {secs(r.p95_login_seconds):>9} {secs(r.last_boot_seconds):>9} "
            f"{_when(r.last_seen)}{' (revoked)' if r.revoked else ''}"
            f"{'' if r.identity == 'ok' else f' [{r.identity}: {r.related_device}]'}"
        )


@app.command()
def report(
    db: Db,
    since: Annotated[
        str | None,
        typer.Option(help="Period start: 28d (before now), 2026-10-01 or 2026-10-01T08:00 UTC."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Period end (exclusive; a date includes its day), e.g. 2026-10-28."),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            metavar="BEFORE AFTER",
            help="Compare two periods START..END, e.g. 2026-10-01..2026-10-28 28d.",
        ),
    ] = None,
    slo: Annotated[float, typer.Option(help="Sign-in target in seconds.")] = 120.0,
    target: Annotated[float, typer.Option(help="Share of sign-ins to meet it, (0, 1].")] = 0.95,
    fmt: Annotated[str, typer.Option("--format", help="md, html, json or csv.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout.")] = None,
    include_flagged: Annotated[
        bool, typer.Option(help="Count first-login and after-update sign-ins too.")
    ] = False,
) -> None:
    """The sign-in SLA report: exact figures from the stored events (see docs/report.md)."""
    options = ReportOptions(since, until, compare, slo, target, fmt, include_flagged)
    text = write_report(db, time.time(), options, out)
    if text is not None:
        typer.echo(text, nl=False)


def _print_coverage(sites: list[SiteCoverage], fmt: str) -> None:
    if fmt == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "site": s.site,
                        "expected": s.expected,
                        "enrolled": s.enrolled,
                        "coverage": s.enrolled / s.expected if s.expected else None,
                        "never_enrolled": s.never_enrolled,
                    }
                    for s in sites
                ],
                indent=2,
            )
        )
        return
    if not sites:
        typer.echo(
            "no inventory imported: expected devices unknown "
            "(fleetpulse-collector inventory import FILE.csv)"
        )
    for site, expected, enrolled, missing in sites:
        typer.echo(
            f"{site}: {enrolled} of {expected} expected devices enrolled "
            f"({enrolled / expected:.1%}); never enrolled: {len(missing)}"
        )
        for host in missing:
            typer.echo(f"  {host}")


@devices_app.command("revoke")
def devices_revoke(device_id: Annotated[str, typer.Argument(help="Device id.")], db: Db) -> None:
    """Revoke a device: its credential is refused from now on (within seconds)."""
    store = open_store(db, Access.WRITE)
    try:
        if not store.revoke_device(device_id, time.time()):
            raise ConfigError(f"no active device with id {device_id!r}")
    finally:
        store.close()
    typer.echo(f"revoked {device_id}")


@settings_app.command("set")
def settings_set(
    assignments: Annotated[
        list[str], typer.Argument(help="key=value, e.g. report_interval_seconds=300")
    ],
    site: Annotated[str, typer.Option(help="Site, or '*' for the whole fleet.")],
    db: Db,
) -> None:
    """Set agent settings for a site; running agents get them with their next ack."""
    parsed = []
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {item!r}")
        parse_setting(key.strip(), value.strip())
        parsed.append((key.strip(), value.strip()))
    store = open_store(db, Access.WRITE)
    try:
        for key, value in parsed:
            store.set_site_setting(site, key, value)
    finally:
        store.close()
    typer.echo(f"site {site}: " + ", ".join(f"{k}={v}" for k, v in parsed))


@settings_app.command("show")
def settings_show(db: Db) -> None:
    """Show stored settings (site '*' = fleet defaults)."""
    store = open_store(db, Access.READ)
    try:
        rows = store.site_settings()
    finally:
        store.close()
    for site, key, value in rows:
        typer.echo(f"{site:<16} {key:<26} {value}")


@inventory_app.command("import")
def inventory_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns hostname,site.")], db: Db
) -> None:
    """Import the expected devices per site (an asset register export).

    The file is streamed into one transaction: a bad line (invalid UTF-8, an oversized or
    control-character field) is a one-line error naming it, and nothing is imported."""
    from fleetpulse.collector.inventory import read_inventory

    if not file.is_file():
        raise ConfigError(f"cannot read {file}: no such file")
    rows = read_inventory(file)
    store = open_store(db, Access.WRITE)
    try:
        n = store.import_inventory(rows)
    finally:
        store.close()
    typer.echo(f"imported {n} expected device(s)")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    add_commands(app, COLLECTOR_COMMANDS, sys.argv[1:])
    redact.install()  # no log line, ours or a library's, carries a password or credential
    try:
        app()
    except CollectorError as exc:
        print(f"fleetpulse-collector: error: {redact.redact(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
