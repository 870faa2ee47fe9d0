"""The store interface, and the one way to open a store from a --db URL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.model import (
    UNKNOWN_HARDWARE,
    BootRow,
    BootTotal,
    Device,
    DeviceActivity,
    DeviceRow,
    FleetState,
    Hardware,
    InProgressExpiry,
    Outcome,
    Report,
    SigninDuration,
    SigninRow,
    SiteCoverage,
    SiteSetting,
    Token,
)
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.contributors import ContributorRow, ContributorTotal, SigninTop
from fleetpulse.collector.store.database import Access
from fleetpulse.collector.store.figure_reads import FigureRows
from fleetpulse.collector.store.retention import RetentionPolicy
from fleetpulse.collector.store.sessions import SessionRow


class Store(Protocol):
    def migrate(self) -> int: ...
    def schema_version(self) -> int: ...
    def set_meta_default(self, key: str, value: str) -> str: ...
    def create_token(
        self,
        token_id: str,
        token_hash: str,
        site: str,
        now: float,
        expires_at: float | None,
        max_uses: int | None,
    ) -> None: ...
    def tokens(self) -> list[Token]: ...
    def revoke_token(self, token_id: str, now: float) -> bool: ...
    def enroll(
        self,
        token_hash: str,
        device_id: str,
        secret_hash: str,
        hostname: str,
        os: str,
        os_version: str,
        agent_version: str,
        hardware_id: str,
        machine_id: str,
        now: float,
        expected_site: str = "",
        hardware: Hardware = UNKNOWN_HARDWARE,
    ) -> str: ...
    def device(self, device_id: str) -> Device | None: ...
    def revoke_device(self, device_id: str, now: float) -> bool: ...
    def ingest(self, reports: list[Report], now: float) -> list[Outcome]: ...
    def fleet_state(
        self,
        now: float,
        per_device: bool = False,
        expiry: InProgressExpiry | None = None,
        expired_since: float | None = None,
    ) -> FleetState: ...
    def device_rows(self, now: float) -> list[DeviceRow]: ...
    def figure_rows(self, since: float, until: float) -> FigureRows: ...
    def import_inventory(self, rows: Iterable[tuple[str, str]], chunk: int = 5000) -> int: ...
    def signins_between(self, since: float, until: float) -> list[SigninRow]: ...
    def boots_between(self, since: float, until: float) -> list[BootTotal]: ...
    def boot_details_between(self, since: float, until: float) -> list[BootRow]: ...
    def device_activity(self) -> list[DeviceActivity]: ...
    def device_hardware(self) -> dict[str, Hardware]: ...
    def signin_durations(self, since: float, until: float) -> list[SigninDuration]: ...
    def contributors_between(self, since: float, until: float) -> list[ContributorRow]: ...
    def top_contributors(self, since: float, limit: int) -> list[tuple[str, str]]: ...
    def contributor_totals(
        self, since: float, until: float, include_flagged: bool, limit: int
    ) -> list[ContributorTotal]: ...
    def contributor_signin_seconds(
        self, since: float, until: float, include_flagged: bool, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[float]]: ...
    def top_per_signin(self, since: float, until: float) -> list[SigninTop]: ...
    def inventory_expected(self) -> dict[str, int]: ...
    def inventory_listed(self, hostnames: Iterable[str], chunk: int = 5000) -> set[str]: ...
    def top_apps(self, since: float, limit: int) -> list[str]: ...
    def top_boot_culprits(self, since: float, limit: int) -> list[tuple[str, str]]: ...
    def set_site_setting(self, site: str, key: str, value: str) -> None: ...
    def site_settings(self) -> list[SiteSetting]: ...
    def coverage(self) -> list[SiteCoverage]: ...
    def sessions_between(self, since: float, until: float) -> list[SessionRow]: ...
    def devices_sending_ends(self) -> set[str]: ...
    def unmatched_ends(self, since: float, until: float) -> int: ...
    def prune_batch(self, kind: str, before: float, limit: int) -> int: ...
    def record_retention(self, policy: RetentionPolicy) -> None: ...
    def retention_recorded(self) -> dict[str, float]: ...
    def transient(self, exc: BaseException) -> bool: ...
    def close(self) -> None: ...


def open_store(url: str, access: Access = Access.CREATE) -> Store:
    """The store at ``sqlite:///path.db`` or ``postgresql://...``, opened for ``access``.

    Access.CREATE (``serve``, ``migrate``) may create the database; callers then run
    ``migrate()``. Access.WRITE and Access.READ need an existing database whose schema is
    current, else ConfigError with one line saying so (``run fleetpulse-collector
    migrate``); READ writes nothing (see store.database.Access)."""
    from fleetpulse.collector.store import migrations
    from fleetpulse.collector.store.database import Database, Dialect
    from fleetpulse.collector.store.sql import SqlStore

    dialect: Dialect
    if url.startswith("sqlite:///"):
        from fleetpulse.collector.store.sqlite import SqliteDialect

        dialect = SqliteDialect(url[len("sqlite:///") :], access)
    elif url.startswith(("postgresql://", "postgres://")):
        from fleetpulse.collector.store.postgres import PostgresDialect

        dialect = PostgresDialect(url, access)
    else:
        raise ConfigError(f"--db must be sqlite:///PATH or postgresql://..., got {redact(url)!r}")
    store = SqlStore(Database(dialect))
    if access is not Access.CREATE:
        try:
            migrations.require_current(store.db)
        except BaseException:
            store.close()
            raise
    return store
