"""``SqlStore``: the one store object callers hold, over SQLite or PostgreSQL.

It keeps the ``Store`` interface and hands each call to the part that owns it, all sharing
one ``Database`` (two connections, see database.py)::

    SqlStore
    ├── migrations   schema version, migrate        (schema.py holds the DDL)
    ├── Enrolment    tokens, enroll, devices, meta  (enrolment.py)
    ├── Ingest       reports -> rows, duplicates    (ingest.py)
    ├── Fleet        fleet-state gauges, `devices`  (fleet.py)
    ├── Reports      events by event time           (reports.py)
    ├── HardwareReads device hardware, by-model reads (hardware.py)
    ├── FigureReads  the figures' read as columns (figure_reads.py)
    ├── Contributors what sign-ins waited for       (contributors.py)
    ├── Sessions     sign-ins with their ends       (sessions.py)
    ├── Retention    pruning old events, kept spans (retention.py)
    └── Sites        settings, inventory, coverage  (sites.py)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
from fleetpulse.collector.store import migrations
from fleetpulse.collector.store.contributors import (
    ContributorRow,
    Contributors,
    ContributorTotal,
    SigninTop,
)
from fleetpulse.collector.store.database import Database
from fleetpulse.collector.store.enrolment import Enrolment
from fleetpulse.collector.store.figure_reads import FigureReads, FigureRows
from fleetpulse.collector.store.fleet import Fleet
from fleetpulse.collector.store.hardware import HardwareReads
from fleetpulse.collector.store.ingest import Ingest
from fleetpulse.collector.store.reports import Reports
from fleetpulse.collector.store.retention import Retention, RetentionPolicy
from fleetpulse.collector.store.sessions import SessionRow, Sessions
from fleetpulse.collector.store.sites import Sites


class SqlStore:
    """The store over one database; every method is one transaction or one read."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._enrolment = Enrolment(db)
        self._ingest = Ingest(db)
        self._fleet = Fleet(db)
        self._reports = Reports(db)
        self._hardware = HardwareReads(db)
        self._figures = FigureReads(db)
        self._contributors = Contributors(db)
        self._sites = Sites(db)
        self._retention = Retention(db)
        self._sessions = Sessions(db)

    # -- plumbing and schema -------------------------------------------------------
    def transient(self, exc: BaseException) -> bool:
        return self.db.transient(exc)

    def close(self) -> None:
        self.db.close()

    def migrate(self) -> int:
        return migrations.migrate(self.db)

    def schema_version(self) -> int:
        return migrations.version(self.db)

    # -- enrolment -------------------------------------------------------------------
    def set_meta_default(self, key: str, value: str) -> str:
        return self._enrolment.set_meta_default(key, value)

    def create_token(
        self,
        token_id: str,
        token_hash: str,
        site: str,
        now: float,
        expires_at: float | None,
        max_uses: int | None,
    ) -> None:
        self._enrolment.create_token(token_id, token_hash, site, now, expires_at, max_uses)

    def tokens(self) -> list[Token]:
        return self._enrolment.tokens()

    def revoke_token(self, token_id: str, now: float) -> bool:
        return self._enrolment.revoke_token(token_id, now)

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
    ) -> str:
        return self._enrolment.enroll(
            token_hash,
            device_id,
            secret_hash,
            hostname,
            os,
            os_version,
            agent_version,
            hardware_id,
            machine_id,
            now,
            expected_site,
            hardware,
        )

    def device(self, device_id: str) -> Device | None:
        return self._enrolment.device(device_id)

    def revoke_device(self, device_id: str, now: float) -> bool:
        return self._enrolment.revoke_device(device_id, now)

    # -- ingest ------------------------------------------------------------------------
    def ingest(self, reports: list[Report], now: float) -> list[Outcome]:
        return self._ingest.ingest(reports, now)

    # -- fleet state -------------------------------------------------------------------
    def fleet_state(
        self,
        now: float,
        per_device: bool = False,
        expiry: InProgressExpiry | None = None,
        expired_since: float | None = None,
    ) -> FleetState:
        return self._fleet.fleet_state(now, per_device, expiry, expired_since)

    def device_rows(self, now: float) -> list[DeviceRow]:
        return self._fleet.device_rows(now)

    def figure_rows(self, since: float, until: float) -> FigureRows:
        return self._figures.figure_rows(since, until)

    # -- report reads --------------------------------------------------------------------
    def signins_between(self, since: float, until: float) -> list[SigninRow]:
        return self._reports.signins_between(since, until)

    def boots_between(self, since: float, until: float) -> list[BootTotal]:
        return self._reports.boots_between(since, until)

    def boot_details_between(self, since: float, until: float) -> list[BootRow]:
        return self._reports.boot_details_between(since, until)

    def contributors_between(self, since: float, until: float) -> list[ContributorRow]:
        return self._contributors.contributors_between(since, until)

    def top_contributors(self, since: float, limit: int) -> list[tuple[str, str]]:
        return self._contributors.top_contributors(since, limit)

    def contributor_totals(
        self, since: float, until: float, include_flagged: bool, limit: int
    ) -> list[ContributorTotal]:
        return self._contributors.contributor_totals(since, until, include_flagged, limit)

    def contributor_signin_seconds(
        self, since: float, until: float, include_flagged: bool, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[float]]:
        return self._contributors.contributor_signin_seconds(since, until, include_flagged, pairs)

    def top_per_signin(self, since: float, until: float) -> list[SigninTop]:
        return self._contributors.top_per_signin(since, until)

    def device_activity(self) -> list[DeviceActivity]:
        return self._reports.device_activity()

    def top_apps(self, since: float, limit: int) -> list[str]:
        return self._reports.top_apps(since, limit)

    def top_boot_culprits(self, since: float, limit: int) -> list[tuple[str, str]]:
        return self._reports.top_boot_culprits(since, limit)

    def device_hardware(self) -> dict[str, Hardware]:
        return self._hardware.device_hardware()

    def signin_durations(self, since: float, until: float) -> list[SigninDuration]:
        return self._hardware.signin_durations(since, until)

    # -- settings, inventory, coverage ---------------------------------------------------
    def set_site_setting(self, site: str, key: str, value: str) -> None:
        self._sites.set_site_setting(site, key, value)

    def site_settings(self) -> list[SiteSetting]:
        return self._sites.site_settings()

    def import_inventory(self, rows: Iterable[tuple[str, str]], chunk: int = 5000) -> int:
        return self._sites.import_inventory(rows, chunk)

    def inventory_expected(self) -> dict[str, int]:
        return self._sites.inventory_expected()

    def inventory_listed(self, hostnames: Iterable[str], chunk: int = 5000) -> set[str]:
        return self._sites.inventory_listed(hostnames, chunk)

    def coverage(self) -> list[SiteCoverage]:
        return self._sites.coverage()

    # -- sessions --------------------------------------------------------------------------
    def sessions_between(self, since: float, until: float) -> list[SessionRow]:
        return self._sessions.sessions_between(since, until)

    def devices_sending_ends(self) -> set[str]:
        return self._sessions.devices_sending_ends()

    def unmatched_ends(self, since: float, until: float) -> int:
        return self._sessions.unmatched_ends(since, until)

    # -- retention -------------------------------------------------------------------------
    def prune_batch(self, kind: str, before: float, limit: int) -> int:
        return self._retention.prune_batch(kind, before, limit)

    def record_retention(self, policy: RetentionPolicy) -> None:
        self._retention.record(policy)

    def retention_recorded(self) -> dict[str, float]:
        return self._retention.recorded()
