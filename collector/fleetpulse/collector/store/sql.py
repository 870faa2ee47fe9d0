"""The SQL store shared by SQLite and PostgreSQL: one schema, portable statements.

Statements are written with ``?`` placeholders; a dialect converts them. Duplicates are
dropped by the primary key ``(device_id, seq)`` and by each record's natural key (a boot
per device, a sign-in per device/boot/session) with ``ON CONFLICT DO NOTHING RETURNING``,
so exactly the rows this transaction inserted come back, even with several collectors.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from fleetpulse.collector.errors import ConfigError, StoreUnavailable, Unauthenticated, WrongSite
from fleetpulse.collector.model import (
    BootRow,
    Device,
    DeviceRow,
    FleetState,
    Incoming,
    InProgressExpiry,
    Outcome,
    Report,
    SigninRow,
    Token,
)
from fleetpulse.collector.redact import redact
from fleetpulse.collector.store.contributors import SigninContributors
from fleetpulse.collector.store.schema import MIGRATIONS
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    HealthRecord,
    SigninRecord,
    SigninState,
)

REPORTING_WITHIN = 3600.0
SILENT_AFTER = 86400.0
UNUSED_AFTER = 14 * 86400.0
PER_DEVICE_MAX_AGE = 7 * 86400.0
_CHUNK = 300


def _b(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _phase(record: SigninRecord, name: str) -> float | None:
    for p in record.phases:
        if p.name == name:
            return p.seconds
    return None


def _phases_json(phases: Sequence[Any]) -> str:
    return json.dumps({p.name: p.seconds for p in phases}, separators=(",", ":"))


class SqlStore(SigninContributors):
    """Base class; subclasses provide ``_connect`` and the placeholder style."""

    placeholder = "?"

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._wconn = self._connect()
        self._rconn = self._connect()

    # -- dialect hooks -------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _executescript(self, conn: Any, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    # -- plumbing --------------------------------------------------------------
    def transient(self, exc: BaseException) -> bool:
        """True if ``exc`` says the database is unavailable (locked, down, full) rather
        than that this data cannot be stored."""
        return isinstance(exc, StoreUnavailable) or self._transient(exc)

    def _transient(self, exc: BaseException) -> bool:
        """``transient`` for the driver's own exceptions (a dialect hook)."""
        return False

    def _unavailable(self, exc: Exception, doing: str) -> Exception:
        """``exc`` as StoreUnavailable if it is transient (a store error every RPC answers
        with UNAVAILABLE and a retry hint), else ``exc`` itself. The message is redacted
        and one line: driver messages may quote the connection string."""
        if isinstance(exc, StoreUnavailable) or not self.transient(exc):
            return exc
        detail = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreUnavailable(f"the database could not {doing}: {detail}")

    def _broken(self, conn: Any) -> bool:
        """True if the connection is lost and must be replaced (a dialect hook)."""
        return False

    def _fresh(self, conn: Any) -> Any:
        """``conn``, or a new connection if it was lost (e.g. the server restarted)."""
        if not self._broken(conn):
            return conn
        with suppress(Exception):  # already gone
            conn.close()
        try:
            return self._connect()
        except ConfigError as exc:  # it answered at startup: unavailable now, not misconfigured
            raise StoreUnavailable(redact(str(exc)).splitlines()[0]) from None

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A write transaction; transient failures come out as StoreUnavailable."""
        with self._write_lock:
            try:
                self._wconn = conn = self._fresh(self._wconn)
                self._begin(conn)
                try:
                    yield conn
                except BaseException:
                    with suppress(Exception):  # a lost connection cannot roll back
                        conn.rollback()
                    raise
                conn.commit()
            except Exception as exc:
                err = self._unavailable(exc, "commit")
                if err is exc:
                    raise
                raise err from exc

    def _x(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(sql), tuple(params))

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            try:
                self._rconn = self._fresh(self._rconn)
                rows = self._x(self._rconn, sql, params).fetchall()
                self._rconn.commit()  # end the read transaction: next read sees new commits
            except Exception as exc:
                with suppress(Exception):  # leave no failed transaction behind
                    self._rconn.rollback()
                err = self._unavailable(exc, "read")
                if err is exc:
                    raise
                raise err from exc
            return [tuple(r) for r in rows]

    def close(self) -> None:
        self._wconn.close()
        self._rconn.close()

    # -- schema ------------------------------------------------------------------
    def _schema_version(self, conn: Any) -> int:
        raise NotImplementedError

    def migrate(self) -> int:
        with self._write() as conn:
            version = self._schema_version(conn)
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._executescript(conn, script)
                self._set_version(conn, number)
        return len(MIGRATIONS)

    def _set_version(self, conn: Any, version: int) -> None:
        raise NotImplementedError

    def set_meta_default(self, key: str, value: str) -> str:
        with self._write() as conn:
            self._x(
                conn,
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (key, value),
            )
            row = self._x(conn, "SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    # -- tokens and devices ----------------------------------------------------
    def create_token(
        self,
        token_id: str,
        token_hash: str,
        site: str,
        now: float,
        expires_at: float | None,
        max_uses: int | None,
    ) -> None:
        with self._write() as conn:
            self._x(
                conn,
                "INSERT INTO tokens (token_id, token_hash, site, created_at, expires_at, max_uses)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, token_hash, site, now, expires_at, max_uses),
            )

    def tokens(self) -> list[Token]:
        rows = self._read(
            "SELECT token_id, site, created_at, expires_at, max_uses, uses, last_used, revoked_at"
            " FROM tokens ORDER BY created_at"
        )
        return [Token(*r) for r in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (now, token_id),
            )
            return bool(cur.rowcount)

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
    ) -> str:
        """Spends one use of the token and creates the device, in one transaction.

        The use is taken by one conditional ``UPDATE ... RETURNING`` (valid, unexpired, not
        used up, of ``expected_site`` if given), so collectors sharing a database never
        spend more than ``max_uses`` (PostgreSQL re-checks the condition on the row after
        a concurrent update; SQLite's ``BEGIN IMMEDIATE`` serialises writers), and a failed
        enrolment rolls its use back. Raises Unauthenticated (unknown, revoked, expired,
        used up) or WrongSite; neither spends a use nor stores a device."""
        with self._write() as conn:
            row = self._x(
                conn,
                "UPDATE tokens SET uses = uses + 1, last_used = ? WHERE token_hash = ?"
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
                " AND (max_uses IS NULL OR uses < max_uses) AND (? = '' OR site = ?)"
                " RETURNING token_id, site",
                (now, token_hash, now, expected_site, expected_site),
            ).fetchone()
            if row is None:
                raise self._token_refusal(conn, token_hash, now, expected_site)
            token_id, site = row
            self._x(
                conn,
                "INSERT INTO devices (device_id, secret_hash, site, hostname, os, os_version,"
                " agent_version, hardware_id, machine_id, token_id, enrolled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    secret_hash,
                    site,
                    hostname,
                    os,
                    os_version,
                    agent_version,
                    hardware_id,
                    machine_id,
                    token_id,
                    now,
                ),
            )
            self._check_identity(conn, device_id, hardware_id, machine_id)
        return str(site)

    def _token_refusal(
        self, conn: Any, token_hash: str, now: float, expected_site: str
    ) -> Unauthenticated | WrongSite:
        """Why the conditional use of a token matched nothing (read in the same transaction)."""
        row = self._x(
            conn,
            "SELECT token_id, site, expires_at, max_uses, uses, revoked_at FROM tokens"
            " WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            return Unauthenticated("enrollment token is not known", reason="unknown")
        token_id, site, expires_at, max_uses, uses, revoked_at = row
        if revoked_at is not None:
            return Unauthenticated(f"enrollment token {token_id} was revoked", reason="revoked")
        if expires_at is not None and now >= expires_at:
            return Unauthenticated(f"enrollment token {token_id} has expired", reason="expired")
        if max_uses is not None and uses >= max_uses:
            return Unauthenticated(
                f"enrollment token {token_id} is used up ({uses} uses)", reason="used_up"
            )
        return WrongSite(
            f"enrollment token {token_id} belongs to site {site!r}, not {expected_site!r}:"
            f" use a token of site {expected_site!r}"
        )

    def _check_identity(self, conn: Any, device_id: str, hardware_id: str, machine_id: str) -> None:
        """Marks a device enrolled again from the same hardware or OS installation.

        Same hardware (and/or the same installation): ``reenrolled``, the older entry
        ``superseded`` (it no longer counts as enrolled). Same installation id on other
        hardware: a cloned image, both ``clone_suspected``. Nothing is revoked: an operator
        decides (``devices revoke``)."""
        if not hardware_id and not machine_id:
            return
        rows = self._x(
            conn,
            "SELECT device_id, hardware_id, machine_id FROM devices WHERE device_id <> ?"
            " AND revoked_at IS NULL AND identity <> 'superseded'"
            " AND ((hardware_id <> '' AND hardware_id = ?)"
            " OR (machine_id <> '' AND machine_id = ?))",
            (device_id, hardware_id, machine_id),
        ).fetchall()
        for other, other_hw, _other_machine in rows:
            same_hardware = bool(hardware_id) and other_hw == hardware_id
            mine, theirs = (
                ("reenrolled", "superseded")
                if same_hardware or not hardware_id or not other_hw
                else ("clone_suspected", "clone_suspected")
            )
            self._x(
                conn,
                "UPDATE devices SET identity = ?, related_device = ? WHERE device_id = ?",
                (mine, other, device_id),
            )
            self._x(
                conn,
                "UPDATE devices SET identity = ?, related_device = ? WHERE device_id = ?",
                (theirs, device_id, other),
            )

    def device(self, device_id: str) -> Device | None:
        """The device, or None if unknown; an id no store can hold (NUL, which PostgreSQL
        text refuses) is unknown on both stores."""
        if "\x00" in device_id:
            return None
        rows = self._read(
            "SELECT device_id, secret_hash, site, os, revoked_at FROM devices WHERE device_id = ?",
            (device_id,),
        )
        if not rows:
            return None
        d = rows[0]
        return Device(d[0], d[1], d[2], d[3], d[4] is not None)

    def revoke_device(self, device_id: str, now: float) -> bool:
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL",
                (now, device_id),
            )
            return bool(cur.rowcount)

    def import_inventory(self, rows: Iterable[tuple[str, str]], chunk: int = 5000) -> int:
        """Inserts or updates (hostname, site) rows in one transaction, ``chunk`` rows per
        executemany, so a file of any size is streamed; returns the number of rows read.
        An error from ``rows`` (a bad line) rolls the whole import back."""
        sql = self._sql(
            "INSERT INTO inventory (hostname, site) VALUES (?, ?)"
            " ON CONFLICT (hostname) DO UPDATE SET site = excluded.site"
        )
        n = 0
        with self._write() as conn:
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

    # -- ingest ------------------------------------------------------------------
    def ingest(self, reports: list[Report], now: float) -> list[Outcome]:
        """Stores a group of validated reports in one transaction."""
        with self._write() as conn:
            return [self._ingest_one(conn, report, now) for report in reports]

    def _insert_new(
        self, conn: Any, table: str, cols: str, rows: list[tuple[Any, ...]]
    ) -> set[int]:
        """Inserts rows whose first two columns are (device_id, seq); returns new seqs."""
        new: set[int] = set()
        width = cols.count(",") + 1
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            values = ",".join(["(" + ",".join("?" * width) + ")"] * len(chunk))
            params = [v for row in chunk for v in row]
            cur = self._x(
                conn,
                f"INSERT INTO {table} ({cols}) VALUES {values} ON CONFLICT DO NOTHING"
                " RETURNING seq",
                params,
            )
            new.update(int(r[0]) for r in cur.fetchall())
        return new

    def _ingest_one(self, conn: Any, report: Report, now: float) -> Outcome:
        dev = report.device_id
        f = report.facts
        self._x(
            conn,
            "UPDATE devices SET last_seen = ?, hostname = ?, os_version = ?, agent_version = ?"
            " WHERE device_id = ?",
            (now, f.hostname, f.os_version, f.agent_version, dev),
        )
        by_kind: dict[str, list[Incoming]] = {}
        for inc in report.records:
            r = inc.record
            key = (
                "signin_live"
                if (isinstance(r, SigninRecord) and r.state is SigninState.IN_PROGRESS)
                else r.kind.value
            )
            by_kind.setdefault(key, []).append(inc)
        outcome = Outcome()
        new: set[int] = set()
        if "boot" in by_kind:
            new |= self._insert_new(
                conn,
                "boots",
                "device_id, seq, boot_id, boot_time,"
                " total_seconds, boot_type, degraded, phases, culprits,"
                " received_at",
                [self._boot_row(dev, i, now) for i in by_kind["boot"]],
            )
        if "signin" in by_kind:
            rows = [self._signin_row(dev, i, now) for i in by_kind["signin"]]
            inserted = self._insert_new(
                conn,
                "signins",
                "device_id, seq, boot_id, session_id, user_hash, started_at,"
                " total_seconds, core_seconds, responsive_seconds, phases, first_login,"
                " after_update, received_at",
                rows,
            )
            new |= inserted
            self._insert_contributors(conn, dev, by_kind["signin"], inserted)
            for inc in by_kind["signin"]:
                r = inc.record
                assert isinstance(r, SigninRecord)
                self._x(
                    conn,
                    "DELETE FROM signins_in_progress WHERE device_id = ? AND"
                    " boot_id = ? AND session_id = ?",
                    (dev, r.boot_id, r.session_id),
                )
        if "app_usage" in by_kind:
            new |= self._insert_new(
                conn,
                "app_usage",
                "device_id, seq, interval_start,"
                " interval_seconds, app, launches, running_seconds,"
                " foreground_seconds, cpu_seconds, peak_rss_bytes, crashes",
                [self._app_row(dev, i) for i in by_kind["app_usage"]],
            )
        for inc in by_kind.get("signin_live", []):
            if self._upsert_live(conn, dev, inc, now):
                new.add(inc.seq)
        for inc in by_kind.get("health", []):
            if self._upsert_health(conn, dev, inc, now, outcome.dropped):
                new.add(inc.seq)
        for inc in report.records:
            if inc.seq in new:
                outcome.accepted.append(inc)
            else:
                kind = inc.record.kind.value
                outcome.duplicates[kind] = outcome.duplicates.get(kind, 0) + 1
        return outcome

    @staticmethod
    def _boot_row(dev: str, inc: Incoming, now: float) -> tuple[Any, ...]:
        r = inc.record
        assert isinstance(r, BootRecord)
        culprits = json.dumps([[c.name, c.kind, c.seconds] for c in r.culprits])
        return (
            dev,
            inc.seq,
            r.boot_id,
            r.boot_time,
            r.total_seconds,
            r.boot_type.value,
            _b(r.degraded),
            _phases_json(r.phases),
            culprits,
            now,
        )

    @staticmethod
    def _signin_row(dev: str, inc: Incoming, now: float) -> tuple[Any, ...]:
        r = inc.record
        assert isinstance(r, SigninRecord)
        return (
            dev,
            inc.seq,
            r.boot_id,
            r.session_id,
            r.user_hash,
            r.started_at,
            r.total_seconds,
            _phase(r, "core"),
            _phase(r, "responsive"),
            _phases_json(r.phases),
            _b(r.first_login),
            _b(r.after_update),
            now,
        )

    @staticmethod
    def _app_row(dev: str, inc: Incoming) -> tuple[Any, ...]:
        r = inc.record
        assert isinstance(r, AppUsageRecord)
        return (
            dev,
            inc.seq,
            r.interval_start,
            r.interval_seconds,
            r.app,
            r.launches,
            r.running_seconds,
            r.foreground_seconds,
            r.cpu_seconds,
            r.peak_rss_bytes,
            r.crashes,
        )

    def _upsert_live(self, conn: Any, dev: str, inc: Incoming, now: float) -> bool:
        r = inc.record
        assert isinstance(r, SigninRecord)
        cur = self._x(
            conn,
            "INSERT INTO signins_in_progress (device_id, boot_id, session_id, started_at,"
            " elapsed_seconds, updated_at, last_seq)"
            " SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signins"
            " WHERE device_id = ? AND boot_id = ? AND session_id = ?)"
            " ON CONFLICT (device_id, boot_id, session_id) DO UPDATE SET"
            " elapsed_seconds = excluded.elapsed_seconds, updated_at = excluded.updated_at,"
            " last_seq = excluded.last_seq WHERE excluded.last_seq > signins_in_progress.last_seq"
            " RETURNING last_seq",
            (
                dev,
                r.boot_id,
                r.session_id,
                r.started_at,
                r.elapsed_seconds,
                now,
                inc.seq,
                dev,
                r.boot_id,
                r.session_id,
            ),
        )
        return cur.fetchone() is not None

    def _upsert_health(
        self, conn: Any, dev: str, inc: Incoming, now: float, dropped: dict[str, int]
    ) -> bool:
        """Keeps the device's latest health; adds what its drop counters grew by to
        ``dropped`` (agents report cumulative totals, so resends add nothing)."""
        r = inc.record
        assert isinstance(r, HealthRecord)
        prev = self._x(
            conn, "SELECT dropped, last_seq FROM device_health WHERE device_id = ?", (dev,)
        ).fetchone()
        before: dict[str, int] = json.loads(prev[0]) if prev else {}
        if prev is None or int(prev[1]) < inc.seq:
            for kind, total in r.dropped.items():
                grew = int(total) - int(before.get(kind, 0))
                if grew > 0:
                    dropped[kind] = dropped.get(kind, 0) + grew
        cur = self._x(
            conn,
            "INSERT INTO device_health (device_id, last_seq, dropped, parse_errors, spool_bytes,"
            " clock_skew_seconds, rejected, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq,"
            " dropped = excluded.dropped, parse_errors = excluded.parse_errors,"
            " spool_bytes = excluded.spool_bytes, clock_skew_seconds ="
            " excluded.clock_skew_seconds, rejected = excluded.rejected,"
            " updated_at = excluded.updated_at WHERE excluded.last_seq > device_health.last_seq"
            " RETURNING last_seq",
            (
                dev,
                inc.seq,
                json.dumps(r.dropped),
                r.parse_errors,
                r.spool_bytes,
                r.clock_skew_seconds,
                r.rejected,
                now,
            ),
        )
        return cur.fetchone() is not None

    # -- fleet state and listings ---------------------------------------------
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
        for site, os_, version, status, n in self._read(
            "SELECT site, os, agent_version, CASE WHEN last_seen >= ? THEN 'reporting'"
            " WHEN last_seen >= ? THEN 'stale' ELSE 'silent' END AS state, COUNT(*)"
            " FROM devices WHERE revoked_at IS NULL AND identity <> 'superseded'"
            " GROUP BY site, os, agent_version, state",
            (now - REPORTING_WITHIN, now - SILENT_AFTER),
        ):
            state.devices[(site, os_, version, status)] = int(n)
        sites = {k[0] for k in state.devices}
        for site, n in self._read("SELECT site, COUNT(*) FROM inventory GROUP BY site"):
            state.expected[site] = int(n)
        for site, kind, n in self._read(
            "SELECT site, identity, COUNT(*) FROM devices WHERE revoked_at IS NULL"
            " AND identity IN ('reenrolled', 'clone_suspected') GROUP BY site, identity"
        ):
            state.identity[(site, kind)] = int(n)
        for site in sites:
            state.unused[site] = 0
            state.in_progress[site] = 0
            state.longest_in_progress[site] = 0.0
        for site, n in self._read(
            "SELECT d.site, COUNT(*) FROM devices d WHERE d.revoked_at IS NULL"
            " AND d.identity <> 'superseded'"
            " AND d.enrolled_at <= ? AND NOT EXISTS (SELECT 1 FROM signins s"
            " WHERE s.device_id = d.device_id AND s.started_at >= ?) GROUP BY d.site",
            (now - UNUSED_AFTER, now - UNUSED_AFTER),
        ):
            state.unused[site] = int(n)
        self._in_progress(state, now, expiry or InProgressExpiry(), expired_since)
        if per_device:
            state.per_device.extend(self._per_device(now))
        return state

    def _in_progress(
        self, state: FleetState, now: float, expiry: InProgressExpiry, since: float | None
    ) -> None:
        # rows older than every expiry, also as seen from ``since``, matter no more
        oldest = min(now, now if since is None else since) - expiry.longest()
        for site, elapsed, updated_at in self._read(
            "SELECT d.site, p.elapsed_seconds, p.updated_at FROM signins_in_progress p"
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
            elif since is not None and since < float(updated_at) + expiry.after(site) <= now:
                state.in_progress_expired[site] = state.in_progress_expired.get(site, 0) + 1

    def _per_device(
        self, now: float
    ) -> list[tuple[str, str, str, float | None, float | None, float | None]]:
        """Latest sign-in and boot per device; devices silent for PER_DEVICE_MAX_AGE expire
        from the per-device series (they stay in the store and in `devices`)."""
        rows = self._read(
            "SELECT d.device_id, d.hostname, d.site,"
            " (SELECT s.total_seconds FROM signins s WHERE s.device_id = d.device_id"
            "  ORDER BY s.started_at DESC LIMIT 1),"
            " (SELECT b.total_seconds FROM boots b WHERE b.device_id = d.device_id"
            "  ORDER BY b.boot_time DESC LIMIT 1),"
            " d.last_seen FROM devices d WHERE d.revoked_at IS NULL"
            " AND d.identity <> 'superseded' AND d.last_seen >= ?",
            (now - PER_DEVICE_MAX_AGE,),
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def device_rows(self, now: float) -> list[DeviceRow]:
        logins: dict[str, list[tuple[float, float | None]]] = {}
        for dev, started, total in self._read(
            "SELECT device_id, started_at, total_seconds FROM signins WHERE started_at >= ?"
            " ORDER BY started_at",
            (now - 28 * 86400,),
        ):
            logins.setdefault(dev, []).append((started, total))
        boots = {
            dev: total
            for dev, total in self._read(
                "SELECT device_id, total_seconds FROM boots ORDER BY boot_time"
            )
        }
        out = []
        for r in self._read(
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

    def signins_between(self, since: float, until: float) -> list[SigninRow]:
        """Complete sign-ins by event time (``started_at``), oldest first."""
        rows = self._read(
            "SELECT s.device_id, d.hostname, d.site, d.os, s.started_at, s.total_seconds,"
            " s.phases, s.first_login, s.after_update FROM signins s"
            " JOIN devices d ON d.device_id = s.device_id"
            " WHERE s.started_at >= ? AND s.started_at < ? ORDER BY s.started_at",
            (since, until),
        )
        return [
            SigninRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                json.loads(r[6]),
                None if r[7] is None else bool(r[7]),
                None if r[8] is None else bool(r[8]),
            )
            for r in rows
        ]

    def boots_between(self, since: float, until: float) -> list[tuple[str, float, float | None]]:
        """Stored boots by event time (``boot_time``): (device_id, boot_time, total_seconds)."""
        rows = self._read(
            "SELECT device_id, boot_time, total_seconds FROM boots"
            " WHERE boot_time >= ? AND boot_time < ? ORDER BY boot_time",
            (since, until),
        )
        return [(str(r[0]), float(r[1]), None if r[2] is None else float(r[2])) for r in rows]

    def boot_details_between(self, since: float, until: float) -> list[BootRow]:
        """Stored boots by event time (``boot_time``) with their device and culprits,
        oldest first."""
        rows = self._read(
            "SELECT b.device_id, d.hostname, d.site, b.boot_time, b.total_seconds,"
            " b.boot_type, b.degraded, b.culprits FROM boots b"
            " JOIN devices d ON d.device_id = b.device_id"
            " WHERE b.boot_time >= ? AND b.boot_time < ? ORDER BY b.boot_time",
            (since, until),
        )
        return [
            BootRow(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                None if r[4] is None else float(r[4]),
                str(r[5]),
                None if r[6] is None else bool(r[6]),
                [(str(n), str(k), float(s)) for n, k, s in json.loads(r[7])],
            )
            for r in rows
        ]

    def device_activity(
        self,
    ) -> list[tuple[str, str, str, float, float | None, bool, float | None]]:
        """Every enrolled device: (device_id, hostname, site, enrolled_at, last_seen,
        revoked, start of its latest stored sign-in or None)."""
        rows = self._read(
            "SELECT d.device_id, d.hostname, d.site, d.enrolled_at, d.last_seen,"
            " d.revoked_at, (SELECT MAX(s.started_at) FROM signins s"
            " WHERE s.device_id = d.device_id) FROM devices d ORDER BY d.site, d.hostname"
        )
        return [
            (
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                None if r[4] is None else float(r[4]),
                r[5] is not None,
                None if r[6] is None else float(r[6]),
            )
            for r in rows
        ]

    def inventory_expected(self) -> dict[str, int]:
        """Expected devices per site, aggregated in the database so memory stays bounded
        whatever the inventory's size. Entries whose hostnames differ only in case count
        once, under the greatest site name (SQL ``lower()``: ASCII letters on SQLite, the
        database locale on PostgreSQL)."""
        rows = self._read(
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
            for (host,) in self._read(
                "SELECT DISTINCT lower(hostname) FROM inventory"
                f" WHERE lower(hostname) IN ({marks})",
                part,
            ):
                found.add(str(host))
        return found

    def top_apps(self, since: float, limit: int) -> list[str]:
        """Executables by foreground (then running) time since a moment, most used first."""
        rows = self._read(
            "SELECT app FROM app_usage WHERE interval_start >= ? GROUP BY app"
            " ORDER BY SUM(COALESCE(foreground_seconds, 0)) DESC, SUM(running_seconds) DESC,"
            " app LIMIT ?",
            (since, limit),
        )
        return [str(r[0]) for r in rows]

    def set_site_setting(self, site: str, key: str, value: str) -> None:
        with self._write() as conn:
            self._x(
                conn,
                "INSERT INTO site_settings (site, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (site, key) DO UPDATE SET value = excluded.value",
                (site, key, value),
            )

    def site_settings(self) -> list[tuple[str, str, str]]:
        """(site, key, value) rows; site ``*`` holds the fleet-wide defaults."""
        return [
            (str(a), str(b), str(c))
            for a, b, c in self._read(
                "SELECT site, key, value FROM site_settings ORDER BY site, key"
            )
        ]

    def coverage(self) -> list[tuple[str, int, int, list[str]]]:
        """Per inventory site: (site, expected, enrolled, hostnames expected but never
        enrolled). Devices match inventory entries by hostname, ignoring case."""
        enrolled = {
            str(h).casefold()
            for (h,) in self._read(
                "SELECT hostname FROM devices WHERE revoked_at IS NULL AND identity <> 'superseded'"
            )
        }
        sites: dict[str, list[str]] = {}
        for host, site in self._read("SELECT hostname, site FROM inventory ORDER BY hostname"):
            sites.setdefault(str(site), []).append(str(host))
        return [
            (
                site,
                len(hosts),
                sum(h.casefold() in enrolled for h in hosts),
                [h for h in hosts if h.casefold() not in enrolled],
            )
            for site, hosts in sorted(sites.items())
        ]
