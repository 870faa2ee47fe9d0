"""Sites: central settings per site, the inventory of expected devices, and coverage."""

from __future__ import annotations

from collections.abc import Iterable

from fleetpulse.collector.model import SiteCoverage, SiteSetting
from fleetpulse.collector.store.database import Database


class Sites:
    """Per-site settings and the inventory in one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def import_inventory(self, rows: Iterable[tuple[str, str]], chunk: int = 5000) -> int:
        """Inserts or updates (hostname, site) rows in one transaction, ``chunk`` rows per
        executemany, so a file of any size is streamed; returns the number of rows read.
        An error from ``rows`` (a bad line) rolls the whole import back."""
        sql = self._db.sql(
            "INSERT INTO inventory (hostname, site) VALUES (?, ?)"
            " ON CONFLICT (hostname) DO UPDATE SET site = excluded.site"
        )
        n = 0
        with self._db.write() as conn:
            cur = conn.cursor()
            batch: list[tuple[str, str]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= chunk:
                    cur.executemany(sql, batch)
                    n += len(batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
                n += len(batch)
        return n

    def inventory_expected(self) -> dict[str, int]:
        """Expected devices per site, aggregated in the database so memory stays bounded
        whatever the inventory's size. Entries whose hostnames differ only in case count
        once, under the greatest site name (SQL ``lower()``: ASCII letters on SQLite, the
        database locale on PostgreSQL)."""
        rows = self._db.read(
            "SELECT site, COUNT(*) FROM (SELECT MAX(site) AS site FROM inventory"
            " GROUP BY lower(hostname)) AS folded GROUP BY site ORDER BY site"
        )
        return {str(site): int(n) for site, n in rows}

    def inventory_listed(self, hostnames: Iterable[str], chunk: int = 5000) -> set[str]:
        """Those of ``hostnames`` (lower case) the inventory lists, ignoring case; asked
        ``chunk`` names at a time so neither side is loaded whole."""
        names = sorted(set(hostnames))
        found: set[str] = set()
        for i in range(0, len(names), chunk):
            part = names[i : i + chunk]
            marks = ",".join("?" * len(part))
            for (host,) in self._db.read(
                "SELECT DISTINCT lower(hostname) FROM inventory"
                f" WHERE lower(hostname) IN ({marks})",
                part,
            ):
                found.add(str(host))
        return found

    def set_site_setting(self, site: str, key: str, value: str) -> None:
        with self._db.write() as conn:
            self._db.x(
                conn,
                "INSERT INTO site_settings (site, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (site, key) DO UPDATE SET value = excluded.value",
                (site, key, value),
            )

    def site_settings(self) -> list[SiteSetting]:
        """Every stored setting, by site and key; site ``*`` holds the fleet-wide defaults."""
        return [
            SiteSetting(str(a), str(b), str(c))
            for a, b, c in self._db.read(
                "SELECT site, key, value FROM site_settings ORDER BY site, key"
            )
        ]

    def coverage(self) -> list[SiteCoverage]:
        """Coverage per inventory site, by site name. Devices match inventory entries by
        hostname, ignoring case."""
        enrolled = {
            str(h).casefold()
            for (h,) in self._db.read(
                "SELECT hostname FROM devices WHERE revoked_at IS NULL AND identity <> 'superseded'"
            )
        }
        sites: dict[str, list[str]] = {}
        for host, site in self._db.read("SELECT hostname, site FROM inventory ORDER BY hostname"):
            sites.setdefault(str(site), []).append(str(host))
        return [
            SiteCoverage(
                site,
                len(hosts),
                sum(h.casefold() in enrolled for h in hosts),
                [h for h in hosts if h.casefold() not in enrolled],
            )
            for site, hosts in sorted(sites.items())
        ]
