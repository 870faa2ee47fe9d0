"""Fleet state: the gauges every collector recomputes from the shared database, and the
``devices`` listing.

A device is ``reporting`` if seen within REPORTING_WITHIN seconds, ``stale`` within
SILENT_AFTER, else ``silent``; ``unused`` if enrolled UNUSED_AFTER ago with no sign-in
since. Revoked and superseded devices count in none of these.
"""

from __future__ import annotations

import statistics

from fleetpulse.collector.model import (
    IN_PROGRESS_NAMED_AFTER,
    IN_PROGRESS_NAMED_MAX,
    PER_DEVICE_CONTRIBUTORS,
    DeviceContributor,
    DeviceRow,
    FleetState,
    InProgressExpiry,
    PerDeviceRow,
    WaitingSignin,
)
from fleetpulse.collector.store.database import Database
from fleetpulse.collector.store.schema import LONG_SIGNIN_SECONDS

REPORTING_WITHIN = 3600.0
SILENT_AFTER = 86400.0
UNUSED_AFTER = 14 * 86400.0
PER_DEVICE_MAX_AGE = 7 * 86400.0
LONG_SIGNIN = float(LONG_SIGNIN_SECONDS)  # a sign-in of 30 minutes or more
LONG_RECENT = 3600.0  # ... that ended within the last hour
# The largest contributors of each device's latest sign-in (Fleet._latest_contributors). The
# CROSS JOINs keep SQLite on the per-device path (devices, then the device's last_signin_at
# through the index on (device_id, started_at), then that sign-in's contributors by key)
# instead of scanning every stored contributor; PostgreSQL plans them as inner joins.
LATEST_CONTRIBUTORS = (
    "SELECT device_id, hostname, site, kind, name, seconds FROM ("
    " SELECT d.device_id, d.hostname, d.site, c.kind, c.name, c.seconds,"
    " ROW_NUMBER() OVER (PARTITION BY d.device_id"
    " ORDER BY c.seconds DESC, s.seq DESC, c.ordinal) AS place"
    " FROM devices d CROSS JOIN signins s CROSS JOIN signin_contributors c"
    " WHERE s.device_id = d.device_id AND s.started_at = d.last_signin_at"
    " AND c.device_id = s.device_id AND c.seq = s.seq"
    " AND d.revoked_at IS NULL AND d.identity <> 'superseded' AND d.last_seen >= ?"
    ") ranked WHERE place <= ? ORDER BY device_id, place"
)
# No stored sign-in lasts longer (fleetpulse.collector.validation.MAX_DURATION): bounds the
# started_at range an "ended within" query must read.
LONGEST_SIGNIN = 86400.0
# The long sign-ins that ended since a time, per (site, os). Both stores read them by end time
# through the partial index signins_long_by_end (migration 9), which they use only when the
# query states its expression and its predicate as written there (the literal, not a bound
# parameter: PostgreSQL's generic plan of a prepared statement cannot prove a parameter
# implies the predicate; PostgreSQL manual, 11.8 "Partial Indexes"). CROSS JOIN keeps SQLite
# on sign-ins as the outer loop (SQLite docs, "The Query Planner"), then each device by key;
# PostgreSQL plans it as the inner join it is. Before the index, this read every sign-in of
# the last 25 hours (SQLite's refresh at 300,000 devices: 1.3 s before, 0.15 s after;
# docs/benchmarks.md).
LONG_ENDED = (
    "SELECT d.site, d.os, COUNT(*) FROM signins s CROSS JOIN devices d"
    " WHERE d.device_id = s.device_id AND s.started_at >= ?"
    f" AND s.total_seconds >= {LONG_SIGNIN_SECONDS}"
    " AND s.started_at + s.total_seconds >= ? GROUP BY d.site, d.os"
)


class Fleet:
    """Reads of the fleet's current state from one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def fleet_state(
        self,
        now: float,
        per_device: bool = False,
        expiry: InProgressExpiry | None = None,
        expired_since: float | None = None,
    ) -> FleetState:
        """The fleet-state gauges at ``now``. Sign-ins in progress count until ``expiry``
        gives them up; those that expired within ``(expired_since, now]`` are counted in
        ``in_progress_expired`` (none when ``expired_since`` is None)."""
        state = FleetState()
        # One pass over the covering index devices_fleet, in its order (no sort): device
        # states, identity conflicts and unused devices per (site, os, version, identity).
        unused: dict[str, int] = {}
        for site, os_, version, identity, reporting, stale, n, idle in self._db.read(
            "SELECT site, os, agent_version, identity,"
            " SUM(CASE WHEN last_seen >= ? THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN last_seen < ? AND last_seen >= ? THEN 1 ELSE 0 END), COUNT(*),"
            " SUM(CASE WHEN enrolled_at <= ? AND (last_signin_at IS NULL OR last_signin_at < ?)"
            " THEN 1 ELSE 0 END)"
            " FROM devices WHERE revoked_at IS NULL GROUP BY site, os, agent_version, identity",
            (
                now - REPORTING_WITHIN,
                now - REPORTING_WITHIN,
                now - SILENT_AFTER,
                now - UNUSED_AFTER,
                now - UNUSED_AFTER,
            ),
        ):
            if identity in ("reenrolled", "clone_suspected"):
                state.identity[(site, identity)] = state.identity.get((site, identity), 0) + int(n)
            if identity == "superseded":
                continue
            silent = int(n) - int(reporting) - int(stale)
            for status, count in (("reporting", reporting), ("stale", stale), ("silent", silent)):
                if int(count):
                    key = (site, os_, version, status)
                    state.devices[key] = state.devices.get(key, 0) + int(count)
            unused[site] = unused.get(site, 0) + int(idle)
        for site, n in self._db.read("SELECT site, COUNT(*) FROM inventory GROUP BY site"):
            state.expected[site] = int(n)
        for site in {k[0] for k in state.devices}:
            state.unused[site] = 0
            state.in_progress[site] = 0
            state.longest_in_progress[site] = 0.0
        for site, n in unused.items():
            if n:
                state.unused[site] = n
        self._in_progress(state, now, expiry or InProgressExpiry(), expired_since)
        for os_site in {(k[0], k[1]) for k in state.devices}:
            state.long_ended_last_hour[os_site] = 0
        for site, os_, n in self._db.read(
            LONG_ENDED, (now - LONG_RECENT - LONGEST_SIGNIN, now - LONG_RECENT)
        ):
            state.long_ended_last_hour[(site, os_)] = int(n)
        if per_device:
            state.per_device.extend(self._per_device(now))
            state.per_device_contributors.extend(self._latest_contributors(now))
        return state

    def _in_progress(
        self, state: FleetState, now: float, expiry: InProgressExpiry, since: float | None
    ) -> None:
        # rows older than every expiry, also as seen from ``since``, matter no more
        oldest = min(now, now if since is None else since) - expiry.longest()
        waiting = []
        for site, elapsed, updated_at, hostname, device_id in self._db.read(
            "SELECT d.site, p.elapsed_seconds, p.updated_at, d.hostname, d.device_id"
            " FROM signins_in_progress p"
            " JOIN devices d ON d.device_id = p.device_id WHERE p.updated_at >= ?",
            (oldest,),
        ):
            silent = max(0.0, now - float(updated_at))
            if silent <= expiry.after(site):
                state.in_progress[site] = state.in_progress.get(site, 0) + 1
                so_far = float(elapsed) + min(silent, expiry.interval(site))
                state.longest_in_progress[site] = max(
                    state.longest_in_progress.get(site, 0.0), so_far
                )
                if so_far > IN_PROGRESS_NAMED_AFTER:
                    waiting.append(WaitingSignin(site, hostname, device_id, so_far))
            elif since is not None and since < float(updated_at) + expiry.after(site) <= now:
                state.in_progress_expired[site] = state.in_progress_expired.get(site, 0) + 1
        # one per device (its longest), longest first, bounded
        longest: dict[str, WaitingSignin] = {}
        for w in waiting:
            if w.device_id not in longest or w.seconds > longest[w.device_id].seconds:
                longest[w.device_id] = w
        state.over_threshold.extend(
            sorted(longest.values(), key=lambda w: (-w.seconds, w.site, w.hostname))[
                :IN_PROGRESS_NAMED_MAX
            ]
        )

    def _per_device(self, now: float) -> list[PerDeviceRow]:
        """Latest sign-in and boot per device (kept on the device's row at ingest: Ingest
        in store/ingest.py); devices silent for PER_DEVICE_MAX_AGE expire
        from the per-device series (they stay in the store and in `devices`)."""
        rows = self._db.read(
            "SELECT device_id, hostname, site, last_signin_seconds, last_boot_seconds,"
            " last_seen FROM devices WHERE revoked_at IS NULL"
            " AND identity <> 'superseded' AND last_seen >= ?",
            (now - PER_DEVICE_MAX_AGE,),
        )
        return [PerDeviceRow(*r) for r in rows]

    def _latest_contributors(self, now: float) -> list[DeviceContributor]:
        """The PER_DEVICE_CONTRIBUTORS largest contributors (most seconds first, then their
        place in the record) of the latest sign-in of each device _per_device lists, ranked
        in the database (LATEST_CONTRIBUTORS): the work grows with the devices, not with
        the stored history."""
        rows = self._db.read(
            LATEST_CONTRIBUTORS,
            (now - PER_DEVICE_MAX_AGE, PER_DEVICE_CONTRIBUTORS),
        )
        return [
            DeviceContributor(str(d), str(h), str(site), str(k), str(n), float(x))
            for d, h, site, k, n, x in rows
        ]

    def device_rows(self, now: float) -> list[DeviceRow]:
        """Every device with its sign-in figures over the last 28 days (count, latest,
        p95 by the inclusive quantile method) and its latest boot, by site and hostname."""
        logins: dict[str, list[tuple[float, float | None]]] = {}
        for dev, started, total in self._db.read(
            "SELECT device_id, started_at, total_seconds FROM signins WHERE started_at >= ?"
            " ORDER BY started_at",
            (now - 28 * 86400,),
        ):
            logins.setdefault(dev, []).append((started, total))
        boots = {
            dev: total
            for dev, total in self._db.read(
                "SELECT device_id, total_seconds FROM boots ORDER BY boot_time"
            )
        }
        out = []
        for r in self._db.read(
            "SELECT device_id, hostname, site, os, os_version, agent_version, enrolled_at,"
            " last_seen, revoked_at, identity, related_device FROM devices"
            " ORDER BY site, hostname"
        ):
            mine = logins.get(r[0], [])
            known = [t for _, t in mine if t is not None]
            p95 = (
                statistics.quantiles(known, n=20, method="inclusive")[-1]
                if len(known) > 1
                else (known[0] if known else None)
            )
            out.append(
                DeviceRow(
                    device_id=r[0],
                    hostname=r[1],
                    site=r[2],
                    os=r[3],
                    os_version=r[4],
                    agent_version=r[5],
                    enrolled_at=r[6],
                    last_seen=r[7],
                    revoked=r[8] is not None,
                    signins=len(mine),
                    last_login_seconds=mine[-1][1] if mine else None,
                    p95_login_seconds=p95,
                    last_boot_seconds=boots.get(r[0]),
                    identity=r[9],
                    related_device=r[10],
                )
            )
        return out
