"""Enrolment: tokens, the devices they enrol, identity checks, and the fleet's meta values."""

from __future__ import annotations

from fleetpulse.collector.errors import Unauthenticated, WrongSite
from fleetpulse.collector.model import UNKNOWN_HARDWARE, Device, Hardware, Token
from fleetpulse.collector.store.database import Connection, Database


class Enrolment:
    """Tokens and devices in one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set_meta_default(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none (the first
        collector to start decides, e.g. the fleet key)."""
        with self._db.write() as conn:
            self._db.x(
                conn,
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (key, value),
            )
            row = self._db.x(conn, "SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        assert row is not None  # inserted or already there, in this transaction
        return str(row[0])

    def create_token(
        self,
        token_id: str,
        token_hash: str,
        site: str,
        now: float,
        expires_at: float | None,
        max_uses: int | None,
    ) -> None:
        with self._db.write() as conn:
            self._db.x(
                conn,
                "INSERT INTO tokens (token_id, token_hash, site, created_at, expires_at, max_uses)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, token_hash, site, now, expires_at, max_uses),
            )

    def tokens(self) -> list[Token]:
        """Every token, oldest first."""
        rows = self._db.read(
            "SELECT token_id, site, created_at, expires_at, max_uses, uses, last_used, revoked_at"
            " FROM tokens ORDER BY created_at"
        )
        return [Token(*r) for r in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        """True if an active token was revoked."""
        with self._db.write() as conn:
            cur = self._db.x(
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
        hardware: Hardware = UNKNOWN_HARDWARE,
    ) -> str:
        """Spends one use of the token and creates the device, in one transaction.

        The use is taken by one conditional ``UPDATE ... RETURNING`` (valid, unexpired, not
        used up, of ``expected_site`` if given), so collectors sharing a database never
        spend more than ``max_uses`` (PostgreSQL re-checks the condition on the row after
        a concurrent update; SQLite's ``BEGIN IMMEDIATE`` serialises writers), and a failed
        enrolment rolls its use back. Returns the token's site. Raises Unauthenticated
        (unknown, revoked, expired, used up) or WrongSite; neither spends a use nor stores
        a device. ``hardware`` is stored on the device's row (None columns: unknown)."""
        with self._db.write() as conn:
            row = self._db.x(
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
            self._db.x(
                conn,
                "INSERT INTO devices (device_id, secret_hash, site, hostname, os, os_version,"
                " agent_version, hardware_id, machine_id, token_id, enrolled_at, manufacturer,"
                " model, memory_bytes, system_disk)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    *hardware.columns(),
                ),
            )
            self._check_identity(conn, device_id, hardware_id, machine_id)
        return str(site)

    def _token_refusal(
        self, conn: Connection, token_hash: str, now: float, expected_site: str
    ) -> Unauthenticated | WrongSite:
        """Why the conditional use of a token matched nothing (read in the same transaction)."""
        row = self._db.x(
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

    def _check_identity(
        self, conn: Connection, device_id: str, hardware_id: str, machine_id: str
    ) -> None:
        """Marks a device enrolled again from the same hardware or OS installation.

        Same hardware (and/or the same installation): ``reenrolled``, the older entry
        ``superseded`` (it no longer counts as enrolled). Same installation id on other
        hardware: a cloned image, both ``clone_suspected``. Nothing is revoked: an operator
        decides (``devices revoke``)."""
        if not hardware_id and not machine_id:
            return
        rows = self._db.x(
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
            self._db.x(
                conn,
                "UPDATE devices SET identity = ?, related_device = ? WHERE device_id = ?",
                (mine, other, device_id),
            )
            self._db.x(
                conn,
                "UPDATE devices SET identity = ?, related_device = ? WHERE device_id = ?",
                (theirs, device_id, other),
            )

    def device(self, device_id: str) -> Device | None:
        """The device, or None if unknown; an id no store can hold (NUL, which PostgreSQL
        text refuses) is unknown on both stores."""
        if "\x00" in device_id:
            return None
        rows = self._db.read(
            "SELECT device_id, secret_hash, site, os, revoked_at FROM devices WHERE device_id = ?",
            (device_id,),
        )
        if not rows:
            return None
        d = rows[0]
        return Device(d[0], d[1], d[2], d[3], d[4] is not None)

    def revoke_device(self, device_id: str, now: float) -> bool:
        """True if an active device was revoked."""
        with self._db.write() as conn:
            cur = self._db.x(
                conn,
                "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL",
                (now, device_id),
            )
            return bool(cur.rowcount)
