"""Starts and stops the collector: gRPC (Telemetry + health), /metrics, fleet-state refresh."""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

from fleetpulse.collector.auth import Authenticator
from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.exposition import load_users, serve_metrics
from fleetpulse.collector.figures import FigureProcess
from fleetpulse.collector.figures import compute as compute_figures
from fleetpulse.collector.ingest import Ingestor
from fleetpulse.collector.metrics import (
    AppLabels,
    AuthMetrics,
    ContributorLabels,
    FleetStateCollector,
    IngestMetrics,
    RetentionMetrics,
)
from fleetpulse.collector.model import FleetState, InProgressExpiry, SigninWindows
from fleetpulse.collector.model_board import ModelBoardCollector
from fleetpulse.collector.per_device import Rendered
from fleetpulse.collector.per_device import render as render_per_device
from fleetpulse.collector.ports import check_free
from fleetpulse.collector.pruner import Pruner
from fleetpulse.collector.ratelimit import FailureLimiter, RateLimiter
from fleetpulse.collector.redact import redact
from fleetpulse.collector.servicer import TelemetryServicer, add_to_server
from fleetpulse.collector.settings import SiteSettings
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.retention import DEFAULT_POLICY, TABLES, RetentionPolicy
from fleetpulse.collector.worker import ProcessWriter
from fleetpulse.collector.writer import MAX_QUEUED_RECORDS, Writer
from fleetpulse.contract.address import AddressError, is_loopback, split_target
from fleetpulse.contract.setting_ranges import DEFAULT_REPORT_INTERVAL_SECONDS

log = logging.getLogger("fleetpulse.collector")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE = "fleetpulse.v1.Telemetry"

# Keepalive (gRPC core doc/keepalive.md, proposal A8): the server pings every connection
# every 2 minutes and drops it when no answer comes within 20 s (a laptop that went to
# sleep leaves a half-open connection holding a descriptor). It accepts a client ping
# every KEEPALIVE_MIN_PING_MS even without calls; agents ping every 120 s
# (fleetpulse.agent.transport.CHANNEL_OPTIONS), so a well-behaved agent never collects the ping
# strikes that end in GOAWAY "too_many_pings".
KEEPALIVE_TIME_MS = 120_000
KEEPALIVE_TIMEOUT_MS = 20_000
KEEPALIVE_MIN_PING_MS = 60_000
MAX_PING_STRIKES = 2

# The event-time window figures and the by-model figures read up to 28 days of sign-ins
# (and boots): they are recomputed every WINDOW_EVERY_REFRESHES-th fleet-state refresh
# (every minute with the default 10 s), in a child process of their own
# (fleetpulse.collector.figures) when the collector opened its store from the URL.
WINDOW_EVERY_REFRESHES = 6


@dataclass
class ServerConfig:
    db: str
    listen: str = "127.0.0.1:50051"
    metrics_listen: str = "127.0.0.1:9464"
    metrics_tls_cert: Path | None = None
    metrics_tls_key: Path | None = None
    metrics_auth: Path | None = None  # user:bcrypt-hash lines
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    insecure: bool = False
    per_device_metrics: bool = False
    refresh_seconds: float = 10.0
    device_rate: float = 1.0  # reports per second per device (0 = unlimited) ...
    device_burst: float = 60.0  # ... after a burst of this many
    auth_failure_rate: float = 1.0  # failed authentications per second per peer address ...
    auth_failure_burst: float = 30.0  # ... after a burst of this many
    app_top_n: int = 50
    # Records waiting for the database before reports are refused with RESOURCE_EXHAUSTED
    # and a retry hint (fleetpulse.collector.writer: backpressure).
    write_queue_records: int = MAX_QUEUED_RECORDS
    # Where reports are decoded, validated and stored: "process", an ingest worker process
    # of its own (fleetpulse.collector.worker: its own GIL, off the event loop's core), or
    # "thread", a writer thread of this process (validation on the event loop).
    ingest_worker: str = "process"
    app_allowlist: tuple[str, ...] = ()
    settings: SiteSettings = field(default_factory=SiteSettings)
    # Connection management (gRPC proposal A9): a connection with no call for this long is
    # closed with GOAWAY (agents reconnect for their next report) ...
    max_connection_idle_seconds: float = 300.0
    # ... every connection is closed after this long (+/-10% jitter), so that clients
    # spread again over instances behind a load balancer ...
    max_connection_age_seconds: float = 1800.0
    # ... letting calls in flight finish within this grace (agents' deadline is 10 s).
    max_connection_age_grace_seconds: float = 60.0
    # A connection that has not finished its TLS and HTTP/2 handshake by then is closed
    # (gRPC's default is 120 s): a silent TCP connection cannot hold a descriptor longer.
    handshake_timeout_seconds: float = 20.0
    # How long events are kept after their event time (store/retention.py) ...
    retention: RetentionPolicy = DEFAULT_POLICY
    # ... checked this often (the first pass runs at start).
    prune_every_seconds: float = 3600.0


def server_options(config: ServerConfig) -> list[tuple[str, int]]:
    """The gRPC server channel arguments (names from grpc/impl/channel_arg_names.h)."""
    return [
        ("grpc.so_reuseport", 0),  # a port in use is an error, never a shared port
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_concurrent_streams", 256),
        ("grpc.max_connection_idle_ms", int(config.max_connection_idle_seconds * 1000)),
        ("grpc.max_connection_age_ms", int(config.max_connection_age_seconds * 1000)),
        (
            "grpc.max_connection_age_grace_ms",
            int(config.max_connection_age_grace_seconds * 1000),
        ),
        ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout_seconds * 1000)),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_PING_MS),
        ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
    ]


def _prerender(fleet: CollectorRegistry, per_device: Rendered) -> Rendered:
    """The fleet-state gauges' exposition text, then the per-device gauges'; gzipped as two
    members (a gzip body may be several members, RFC 1952 2.2)."""
    text = generate_latest(fleet)
    return Rendered(
        text + per_device.text, gzip.compress(text, compresslevel=6) + per_device.gzipped
    )


class Collector:
    """The collector of ``config``. With ``store`` given (tests), everything runs in this
    process: the writer is a thread and the every-sixth-refresh figures are computed in a
    thread, unless ``figure_process`` is given; without it (``serve``), the figures are
    computed in a child process (figures.FigureProcess) and reports stored by the ingest
    worker of ``config.ingest_worker``."""

    def __init__(
        self,
        config: ServerConfig,
        store: Store | None = None,
        figure_process: FigureProcess | None = None,
    ) -> None:
        self.config = config
        self._check_transport()
        self.store = store or open_store(config.db)
        self.store.migrate()
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series double the output and nobody queries them
        self.registry = CollectorRegistry()
        apps = AppLabels(config.app_top_n, config.app_allowlist)
        # the top-N labels are the most used apps of the last week, then first come
        apps.seed(self.store.top_apps(time.time() - 7 * 86400, config.app_top_n))
        contributors = ContributorLabels(config.app_top_n, config.app_allowlist)
        contributors.seed(self.store.top_contributors(time.time() - 7 * 86400, config.app_top_n))
        culprits = ContributorLabels(config.app_top_n, config.app_allowlist)
        culprits.seed(self.store.top_boot_culprits(time.time() - 7 * 86400, config.app_top_n))
        self.metrics = IngestMetrics(self.registry, apps, contributors, culprits)
        self.fleet = FleetStateCollector()
        # The fleet-state and by-model gauges change only at a refresh: rendered then, off
        # the event loop, and served pre-rendered with the per-device gauges; ``registry``
        # (ingest tallies, auth, retention) is rendered at each scrape.
        self._fleet_registry = CollectorRegistry()
        self._fleet_registry.register(self.fleet)
        self.pre_rendered = Rendered()
        self.models = ModelBoardCollector()
        self._fleet_registry.register(self.models)
        self.store.record_retention(config.retention)  # the report warns past it
        self.pruner = Pruner(
            self.store,
            config.retention,
            RetentionMetrics(self.registry, {k: config.retention.seconds(k) for k in TABLES}),
            config.prune_every_seconds,
        )
        self.auth = Authenticator(
            self.store,
            guard=FailureLimiter(config.auth_failure_rate, config.auth_failure_burst),
            metrics=AuthMetrics(self.registry),
        )
        self.auth.fleet_key()
        self.writer: Writer | ProcessWriter
        if config.ingest_worker == "process" and store is None:
            self.writer = ProcessWriter(
                config.db, self.metrics.merge, max_queued_records=config.write_queue_records
            )
        else:
            self.writer = Writer(self.store, max_queued_records=config.write_queue_records)
        self.ingestor = Ingestor(
            self.auth,
            self.writer,
            self.metrics,
            limiter=RateLimiter(config.device_rate, config.device_burst),
        )
        self._base_settings = config.settings.default
        self.port = 0
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._http: Any = None
        self._refresher: asyncio.Task[None] | None = None
        self._health = health.aio.HealthServicer()
        self._expired_since: float | None = None  # the last fleet-state snapshot's time
        self._windows: SigninWindows | None = None  # the last window figures ...
        self._refreshes = 0  # ... and the refreshes since they were computed
        if figure_process is None and store is None:
            figure_process = FigureProcess(config.db)
        self.figure_process = figure_process

    def _check_transport(self) -> None:
        c = self.config
        for address in (c.listen, c.metrics_listen):
            try:
                split_target(address)
            except AddressError as exc:
                raise ConfigError(f"listen {exc}") from None
        if bool(c.tls_cert) != bool(c.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        if bool(c.metrics_tls_cert) != bool(c.metrics_tls_key):
            raise ConfigError("--metrics-tls-cert and --metrics-tls-key go together")
        if c.client_ca and not c.tls_cert:
            raise ConfigError("--client-ca needs --tls-cert and --tls-key")
        if not c.tls_cert and not c.insecure and not is_loopback(c.listen):
            raise ConfigError(
                f"refusing plaintext gRPC on non-loopback {c.listen}: "
                "give --tls-cert/--tls-key, or --insecure"
            )
        if (
            c.metrics_auth
            and not c.metrics_tls_cert
            and not c.insecure
            and not is_loopback(c.metrics_listen)
        ):
            # basic auth sends the password in every scrape (RFC 7617 section 4)
            raise ConfigError(
                f"refusing /metrics basic auth in plaintext on non-loopback {c.metrics_listen}: "
                "give --metrics-tls-cert/--metrics-tls-key, or --insecure"
            )
        if c.metrics_auth and not c.metrics_tls_cert and not is_loopback(c.metrics_listen):
            log.warning(
                "/metrics on %s takes basic-auth passwords in plaintext (--insecure)",
                c.metrics_listen,
            )

    def _credentials(self) -> grpc.ServerCredentials | None:
        c = self.config
        if not c.tls_cert or not c.tls_key:
            return None
        try:
            pair = (c.tls_key.read_bytes(), c.tls_cert.read_bytes())
            ca = c.client_ca.read_bytes() if c.client_ca else None
        except OSError as exc:
            raise ConfigError(f"cannot read TLS files: {exc}") from exc
        return grpc.ssl_server_credentials(
            [pair], root_certificates=ca, require_client_auth=ca is not None
        )

    async def start(self) -> None:
        server = grpc.aio.server(
            options=server_options(self.config), compression=grpc.Compression.Gzip
        )
        add_to_server(TelemetryServicer(self.auth, self.ingestor, self.config.settings), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        creds = self._credentials()
        check_free(*split_target(self.config.listen))
        try:
            if creds is None:
                self.port = server.add_insecure_port(self.config.listen)
            else:
                self.port = server.add_secure_port(self.config.listen, creds)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {self.config.listen}: {exc}") from exc
        host, mport = split_target(self.config.metrics_listen)
        await self.refresh()
        try:
            self._http = serve_metrics(
                self.registry,
                host,
                mport,
                self.config.metrics_tls_cert,
                self.config.metrics_tls_key,
                load_users(self.config.metrics_auth) if self.config.metrics_auth else None,
                extra=lambda: self.pre_rendered,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {self.config.metrics_listen}: {exc}"
            ) from exc
        self.metrics_port = int(self._http.server_port)
        self.writer.start()  # the ingest worker, once the ports are ours
        if self.figure_process is not None:
            try:
                pid = await self.figure_process.start()
            except Exception as exc:  # serving does not need it: the next sixth refresh retries
                log.error("figure process did not start: %s", redact(exc))
            else:
                log.info("figure process started (pid %s)", pid)
        await server.start()
        self._server = server
        for name in ("", SERVICE):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._refresher = asyncio.create_task(self._refresh_loop())
        self.pruner.start()
        log.info(
            "collector listening on %s (gRPC) and %s (metrics)", self.grpc_address, self.metrics_url
        )

    @property
    def grpc_address(self) -> str:
        host = split_target(self.config.listen)[0]
        return f"{host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        host = split_target(self.config.metrics_listen)[0]
        scheme = "https" if self.config.metrics_tls_cert else "http"
        return f"{scheme}://{host}:{self.metrics_port}/metrics"

    async def refresh(self) -> None:
        rows = await asyncio.to_thread(self.store.site_settings)
        self.config.settings.load(rows, self._base_settings)
        now = time.time()
        state = await asyncio.to_thread(
            self.store.fleet_state,
            now,
            self.config.per_device_metrics,
            self.in_progress_expiry(),
            self._expired_since,
        )
        if self._windows is None or self._refreshes >= WINDOW_EVERY_REFRESHES:
            await self._update_figures(now, {key[0] for key in state.devices})
        self._refreshes += 1
        state = replace(state, windows=self._windows)
        self.fleet.update(state)
        self._expired_since = now
        self.pre_rendered = await asyncio.to_thread(self._render, state)
        for site, os, _version, _state in state.devices:
            self.metrics.prime(site, os)

    async def _update_figures(self, now: float, sites: set[str]) -> None:
        """The window and by-model figures at ``now``. The first (at start, before gRPC
        serves) is computed in a thread; later ones in the figure process when there is
        one. A failing or dead child is logged and the previous figures kept: the next
        refresh tries again (in a new child when it died)."""
        if self.figure_process is None or self._windows is None:
            figures = await asyncio.to_thread(compute_figures, self.store, now, sites)
        else:
            try:
                figures = await self.figure_process.compute(now, sites)
            except Exception as exc:
                log.error(
                    "window and by-model figures failed (%s: %s); keeping the previous ones",
                    type(exc).__name__,
                    redact(exc),
                )
                return
        self._windows, self._refreshes = figures.windows, 0
        self.models.update(figures.models)

    def _render(self, state: FleetState) -> Rendered:
        per_device = render_per_device(state) if self.config.per_device_metrics else Rendered()
        return _prerender(self._fleet_registry, per_device)

    def in_progress_expiry(self) -> InProgressExpiry:
        """Report intervals as agents are told them: the central setting per site, else
        the agents' own default."""
        s = self.config.settings
        default = float(s.default.report_interval_seconds or DEFAULT_REPORT_INTERVAL_SECONDS)
        return InProgressExpiry(
            default,
            {
                site: float(v.report_interval_seconds)
                for site, v in s.per_site.items()
                if v.report_interval_seconds
            },
        )

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.refresh_seconds)
            try:
                await self.refresh()
            except Exception as exc:  # a failing database must not stop the server
                log.error("fleet-state refresh failed: %s", redact(exc))

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def stop(self, grace: float = 10.0) -> None:
        """Stops accepting, lets in-flight reports commit and ack, then closes."""
        if self._refresher is not None:
            self._refresher.cancel()
        await self.pruner.stop()
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            await self._server.stop(grace)
        await asyncio.to_thread(self.writer.close)
        if self.figure_process is not None:
            await asyncio.to_thread(self.figure_process.close)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.store.close()
