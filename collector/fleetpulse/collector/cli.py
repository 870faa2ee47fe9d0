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
from fleetpulse.collector.durations import positive_duration
from fleetpulse.collector.errors import CollectorError, ConfigError
from fleetpulse.collector.model import DeviceRow
from fleetpulse.collector.report import ReportOptions, write_report
from fleetpulse.collector.report.text import printable
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.collector.settings import parse_setting
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.store.inventory_ops import (
    FIRST_LABEL,
    SAME_NAME,
    SiteCoverage,
    coverage_matches,
    remove_site,
    replace_inventory,
    sql_store,
)
from fleetpulse.collector.store.retention import RetentionPolicy
from fleetpulse.collector.writer import MAX_QUEUED_RECORDS
from fleetpulse.contract.commands import COLLECTOR_COMMANDS, add_commands

app = typer.Typer(
    help="fleetpulse collector: receives agent reports, stores them, exposes metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: wraps at any width, never cuts an option name
)
token_app = typer.Typer(help="Enrollment tokens.", no_args_is_help=True, rich_markup_mode=None)
inventory_app = typer.Typer(
    help="Expected devices per site.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(token_app, name="token")
app.add_typer(inventory_app, name="inventory")
settings_app = typer.Typer(
    help="Central agent settings per site.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(settings_app, name="settings")

Db = Annotated[str, typer.Option("--db", help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB")]


@app.command(short_help="Run the collector (gRPC and /metrics).")
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
        bool, typer.Option("--insecure", help="Allow plaintext on a non-loopback address.")
    ] = False,
    per_device_metrics: Annotated[
        bool, typer.Option("--per-device-metrics", help="Export per-device gauges.")
    ] = False,
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
        int,
        typer.Option(
            help="Label cap: the N most used apps, and N sign-in contributor and N boot "
            "culprit names, keep their own label."
        ),
    ] = 50,
    app_allowlist: Annotated[
        str,
        typer.Option(
            help="Comma-separated apps (or contributor or culprit names) that always keep "
            "their own label."
        ),
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
    ingest_worker: Annotated[
        str,
        typer.Option(
            help="Where reports are decoded, validated and stored: 'process' (an ingest worker"
            " process of its own, off the gRPC event loop) or 'thread' (a writer thread)."
        ),
    ] = "process",
    retain_signins: Annotated[
        str, typer.Option(help="Keep sign-ins (and their contributors) this long, e.g. 400d.")
    ] = "400d",
    retain_boots: Annotated[str, typer.Option(help="Keep boots this long, e.g. 400d.")] = "400d",
    retain_app_usage: Annotated[
        str, typer.Option(help="Keep app usage this long, e.g. 90d.")
    ] = "90d",
) -> None:
    """Run the collector until SIGTERM/SIGINT (in-flight reports are committed first)."""
    if not 0.1 <= refresh_seconds <= 3600.0:
        raise ConfigError(f"--refresh-seconds must be 0.1..3600, got {refresh_seconds:g}")
    if ingest_worker not in ("process", "thread"):
        raise ConfigError(f"--ingest-worker must be process or thread, got {ingest_worker!r}")
    retention = RetentionPolicy(
        signin=positive_duration(retain_signins, "--retain-signins"),
        boot=positive_duration(retain_boots, "--retain-boots"),
        app_usage=positive_duration(retain_app_usage, "--retain-app-usage"),
    )
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
        ingest_worker=ingest_worker,
        retention=retention,
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


@token_app.command("create", short_help="Create an enrollment token (shown once).")
def token_create(
    site: Annotated[str, typer.Option(help="Site the enrolled devices belong to.")],
    db: Db,
    expires: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="Lifetime with a unit: 30m, 12h, 7d (default: none)."
        ),
    ] = None,
    max_uses: Annotated[int | None, typer.Option(metavar="N", help="Enrollments allowed.")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json.")] = "text",
) -> None:
    """Create an enrollment token, shown once: the secret goes to stdout, its id (for
    token list/revoke) to stderr; --format json prints both on stdout."""
    if fmt not in ("text", "json"):
        raise ConfigError(f"--format must be text or json, got {fmt!r}")
    if not site.strip():
        raise ConfigError("--site must not be empty")
    if max_uses is not None and max_uses < 1:
        raise ConfigError("--max-uses must be at least 1")
    now = time.time()
    expires_at = now + positive_duration(expires, "--expires") if expires else None
    store = open_store(db, Access.WRITE)
    try:
        token_id, token, token_hash = auth.new_token()
        store.create_token(token_id, token_hash, site.strip(), now, expires_at, max_uses)
    finally:
        store.close()
    if fmt == "json":
        fields = {
            "token_id": token_id,
            "token": token,
            "site": site.strip(),
            "expires_at": expires_at,
            "max_uses": max_uses,
        }
        typer.echo(json.dumps(fields, indent=2))
        return
    # stdout carries the secret alone, so TOKEN=$(fleetpulse-collector token create ...)
    # keeps working in install scripts; the id goes to the terminal on stderr.
    typer.echo(
        f"token id {token_id} (site {site.strip()}, "
        f"expires {_when(expires_at) if expires_at else 'never'}, "
        f"max uses {max_uses or '-'}): the token is shown once, store it now; "
        f"revoke with: fleetpulse-collector token revoke {token_id} --db ...",
        err=True,
    )
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


@token_app.command("revoke", short_help="Revoke a token.")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id.")], db: Db) -> None:
    """Revoke the token TOKEN_ID (the ID column of token list): no further enrollments."""
    store = open_store(db, Access.WRITE)
    try:
        if not store.revoke_token(token_id, time.time()):
            raise ConfigError(f"no active token with id {token_id!r}")
    finally:
        store.close()
    typer.echo(f"revoked {token_id}")


devices_app = typer.Typer(
    help="Enrolled devices, rollout coverage, revocation.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
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
        bool,
        typer.Option(
            "--coverage",
            help="Rollout coverage per inventory site, the devices never enrolled and the "
            "hostname rule that matched each one.",
        ),
    ] = False,
) -> None:
    """List enrolled devices with their sign-in figures (or: devices revoke DEVICE_ID).

    The table widens its columns to the longest value; --format json gives every field
    whole."""
    if ctx.invoked_subcommand is not None:
        return
    if db is None:
        raise ConfigError("--db is required")
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, got {fmt!r}")
    if slowest < 0:
        raise ConfigError(f"--slowest must be a number of devices (0 = all), got {slowest}")
    now = time.time()
    limit = now - positive_duration(silent_for, "--silent-for") if silent_for else None
    store = open_store(db, Access.READ)
    try:
        if coverage:
            _print_coverage(coverage_matches(sql_store(store)), fmt)
            return
        rows = store.device_rows(now)
    finally:
        store.close()
    if limit is not None:
        rows = [r for r in rows if r.last_seen is None or r.last_seen < limit]
    if slowest:
        rows = sorted(
            (r for r in rows if r.p95_login_seconds is not None),
            key=lambda r: -(r.p95_login_seconds or 0),
        )[:slowest]
    if fmt == "json":
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    _print_devices(rows)


def _print_devices(rows: list[DeviceRow]) -> None:
    """The devices table; each column as wide as its longest value (nothing is cut; agent
    text on one line, its control characters shown as U+FFFD)."""

    def secs(v: float | None) -> str:
        return "unknown" if v is None else f"{v:.0f}s"

    header = ("DEVICE", "HOSTNAME", "SITE", "OS", "SIGNINS", "P95 LOGIN", "LAST BOOT", "LAST SEEN")
    table = [
        (
            r.device_id,
            printable(r.hostname),  # agents name themselves
            printable(r.site),
            printable(r.os),
            str(r.signins),
            secs(r.p95_login_seconds),
            secs(r.last_boot_seconds),
            f"{_when(r.last_seen)}{' (revoked)' if r.revoked else ''}"
            f"{'' if r.identity == 'ok' else f' [{r.identity}: {r.related_device}]'}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header) - 1)]
    right = {4, 5, 6}  # numbers
    for row in [header, *table]:
        cells = [row[i].rjust(w) if i in right else row[i].ljust(w) for i, w in enumerate(widths)]
        typer.echo(" ".join([*cells, row[-1]]))


@app.command(short_help="The sign-in SLA report from the stored events.")
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
        bool,
        typer.Option("--include-flagged", help="Count first-login and after-update sign-ins too."),
    ] = False,
) -> None:
    """The sign-in SLA report: exact figures from the stored events (see docs/report.md)."""
    options = ReportOptions(since, until, compare, slo, target, fmt, include_flagged)
    text = write_report(db, time.time(), options, out)
    if text is not None:
        typer.echo(text, nl=False)


def _print_coverage(sites: list[SiteCoverage], fmt: str) -> None:
    """Coverage per inventory site, with the rule that matched each expected device
    (store/inventory_ops.py: same name, or first label when one side is a short name)."""
    if fmt == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "site": c.site,
                        "expected": c.expected,
                        "enrolled": c.enrolled,
                        "coverage": c.enrolled / c.expected if c.expected else None,
                        "never_enrolled": c.never_enrolled,
                        "matched": [
                            {"inventory": inv, "device": dev, "rule": rule}
                            for inv, dev, rule in c.matched
                        ],
                    }
                    for c in sites
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
    for c in sites:
        typer.echo(
            f"{c.site}: {c.enrolled} of {c.expected} expected devices enrolled "
            f"({c.enrolled / c.expected:.1%}); never enrolled: {len(c.never_enrolled)}"
        )
        by_label = [(inv, dev) for inv, dev, rule in c.matched if rule == FIRST_LABEL]
        if by_label:
            typer.echo(
                f"  matched by {SAME_NAME}: {c.enrolled - len(by_label)}; "
                f"by {FIRST_LABEL} (one side a short name): {len(by_label)}"
            )
            for inv, dev in by_label:
                typer.echo(f"    {inv} = {dev} ({FIRST_LABEL})")
        for host in c.never_enrolled:
            typer.echo(f"  {host}")


@devices_app.command("revoke", short_help="Revoke a device's credential.")
def devices_revoke(device_id: Annotated[str, typer.Argument(help="Device id.")], db: Db) -> None:
    """Revoke the device DEVICE_ID (the DEVICE column of devices): its credential is
    refused from now on (within seconds)."""
    store = open_store(db, Access.WRITE)
    try:
        if not store.revoke_device(device_id, time.time()):
            raise ConfigError(f"no active device with id {device_id!r}")
    finally:
        store.close()
    typer.echo(f"revoked {device_id}")


@settings_app.command("set", short_help="Set agent settings for a site.")
def settings_set(
    assignments: Annotated[
        list[str],
        typer.Argument(metavar="ASSIGNMENT...", help="key=value, e.g. report_interval_seconds=300"),
    ],
    site: Annotated[str, typer.Option(help="Site, or '*' for the whole fleet.")],
    db: Db,
) -> None:
    """Set agent settings for a site; running agents get them with their next ack.

    Each ASSIGNMENT is key=value, e.g. report_interval_seconds=300; the keys and their
    ranges are listed in docs/operations.md."""
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


@inventory_app.command("import", short_help="Import expected devices from a CSV file.")
def inventory_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns hostname,site (any case).")],
    db: Db,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="The file is the whole inventory: entries not in it are removed."
        ),
    ] = False,
) -> None:
    """Import the expected devices per site from FILE, an asset register export in CSV
    with columns hostname,site (header names in any case).

    Without --replace entries are added or moved to the file's site; with it, hostnames
    not in the file are removed too (retired machines). The file is streamed into one
    transaction: a bad line (invalid UTF-8, an oversized or control-character field) is a
    one-line error naming it, and nothing is imported. Blank rows and rows without a
    hostname or site are skipped and counted."""
    from fleetpulse.collector.inventory import Skipped, read_inventory

    if not file.is_file():
        raise ConfigError(f"cannot read {file}: no such file")
    skipped = Skipped()
    rows = read_inventory(file, skipped)
    store = open_store(db, Access.WRITE)
    try:
        if replace:
            n, removed = replace_inventory(sql_store(store), rows)
        else:
            n, removed = store.import_inventory(rows), 0
    finally:
        store.close()
    parts = [f"imported {n} expected device(s)"]
    if replace:
        parts.append(f"removed {removed} not in the file")
    if skipped.total:
        parts.append(skipped.describe())
    typer.echo("; ".join(parts))


@inventory_app.command("remove", short_help="Remove one site's expected devices.")
def inventory_remove(
    site: Annotated[str, typer.Option(help="The site whose expected devices are removed.")],
    db: Db,
) -> None:
    """Remove one site's list of expected devices (its coverage is unknown afterwards)."""
    store = open_store(db, Access.WRITE)
    try:
        n = remove_site(sql_store(store), site)
    finally:
        store.close()
    if not n:
        raise ConfigError(f"no inventory entries for site {site!r}")
    typer.echo(f"removed {n} expected device(s) of site {site}")


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
