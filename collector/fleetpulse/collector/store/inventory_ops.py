"""Inventory maintenance and hostname matching on the SQL store (SQLite and PostgreSQL).

Functions over the ``Database`` of an open SQL store (``sql_store``), beside the store's own
methods:
``replace_inventory`` (the file is the whole truth), ``remove_site`` (one site's list) and
``coverage_matches`` (expected devices matched to enrolled ones, with the rule that matched).

Hostname matching ignores case (DNS names are case-insensitive, RFC 4343). An inventory
written with full domain names (``pc-001.north.example``) and agents that report the short
name (``PC-001``), or the other way round, match on the first label when one side is a
short name (no dot); two full names match only when equal, so ``pc-001.north.example`` and
``pc-001.south.example`` stay two machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.store.base import Store
from fleetpulse.collector.store.database import Database
from fleetpulse.collector.store.sql import SqlStore

#: Rule names as ``devices --coverage`` shows them.
SAME_NAME = "same name"
FIRST_LABEL = "first label"


def sql_store(store: Store) -> Database:
    """The database of ``store``, which these functions work on (every store ``open_store``
    opens is a SQL store); ConfigError otherwise."""
    if not isinstance(store, SqlStore):
        raise ConfigError(f"inventory maintenance needs a SQL store, got {type(store).__name__}")
    return store.db


def replace_inventory(
    store: Database, rows: Iterable[tuple[str, str]], chunk: int = 5000
) -> tuple[int, int]:
    """Makes ``rows`` (hostname, site) the whole inventory in one transaction: entries whose
    hostname is not among them are deleted, the others inserted or updated. Streams
    ``chunk`` rows per statement (memory bounded whatever the size). Returns (rows read,
    entries removed). An error from ``rows`` (a bad line) rolls everything back."""
    upsert = store.sql(
        "INSERT INTO inventory (hostname, site) VALUES (?, ?)"
        " ON CONFLICT (hostname) DO UPDATE SET site = excluded.site"
    )
    listed = store.sql(
        "INSERT INTO inventory_incoming (hostname) VALUES (?) ON CONFLICT DO NOTHING"
    )
    n = 0
    with store.write() as conn:
        # A temporary table holds the names in the file, so the sweep below needs no
        # memory of its own; it is dropped before the commit.
        store.x(conn, "CREATE TEMPORARY TABLE inventory_incoming (hostname TEXT PRIMARY KEY)")
        cur = conn.cursor()
        batch: list[tuple[str, str]] = []

        def flush() -> None:
            cur.executemany(upsert, batch)
            cur.executemany(listed, [(h,) for h, _ in batch])
            batch.clear()

        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        removed = store.x(
            conn,
            "DELETE FROM inventory WHERE hostname NOT IN (SELECT hostname FROM inventory_incoming)",
        ).rowcount
        store.x(conn, "DROP TABLE inventory_incoming")
    return n, int(removed)


def remove_site(store: Database, site: str) -> int:
    """Deletes the inventory entries of ``site`` (exact name); returns how many."""
    with store.write() as conn:
        return int(store.x(conn, "DELETE FROM inventory WHERE site = ?", (site,)).rowcount)


@dataclass
class SiteCoverage:
    """One inventory site: ``expected`` entries, ``matched`` as (inventory hostname,
    enrolled hostname, rule) and ``never_enrolled`` inventory hostnames."""

    site: str
    expected: int = 0
    matched: list[tuple[str, str, str]] = field(default_factory=list)
    never_enrolled: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> int:
        return len(self.matched)


def _first_label(name: str) -> str:
    return name.split(".", 1)[0]


def match_hostname(
    expected: str, full: dict[str, str], short: dict[str, str]
) -> tuple[str, str] | None:
    """The enrolled hostname ``expected`` matches and the rule, or None.

    ``full`` maps each enrolled hostname (case-folded) to its spelling; ``short`` maps the
    first label of each enrolled full domain name (case-folded) to its spelling."""
    key = expected.casefold()
    if key in full:
        return full[key], SAME_NAME
    if "." not in key and key in short:  # inventory short, device reports a full name
        return short[key], FIRST_LABEL
    first = _first_label(key)
    if "." in key and first in full and "." not in first:  # device reports the short name
        return full[first], FIRST_LABEL
    return None


def coverage_matches(store: Database) -> list[SiteCoverage]:
    """Per inventory site (sorted by name), which expected devices match an enrolled one
    (not revoked, not superseded by a re-enrollment) and by which rule."""
    full: dict[str, str] = {}
    short: dict[str, str] = {}
    for (host,) in store.read(
        "SELECT hostname FROM devices WHERE revoked_at IS NULL AND identity <> 'superseded'"
        " ORDER BY hostname"
    ):
        name = str(host)
        full.setdefault(name.casefold(), name)
        if "." in name:
            short.setdefault(_first_label(name.casefold()), name)
    sites: dict[str, SiteCoverage] = {}
    for host, site in store.read("SELECT hostname, site FROM inventory ORDER BY hostname"):
        entry = sites.setdefault(str(site), SiteCoverage(str(site)))
        entry.expected += 1
        got = match_hostname(str(host), full, short)
        if got is None:
            entry.never_enrolled.append(str(host))
        else:
            entry.matched.append((str(host), got[0], got[1]))
    return [sites[s] for s in sorted(sites)]
