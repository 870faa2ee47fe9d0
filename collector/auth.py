"""Enrollment tokens and device credentials: generated random, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from collector.errors import InvalidReport, PermissionDenied, StoreUnavailable, Unauthenticated
from collector.model import Device
from collector.store.base import Store

TOKEN_PREFIX = "fpt_"
SECRET_PREFIX = "fpd_"
FLEET_KEY = "user_hash_key"


def digest(secret: str) -> str:
    # Tokens and secrets carry 256 random bits, so a fast hash cannot be brute-forced.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """Returns (token_id, token, token_hash); the token itself is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secrets.token_hex(4), token, digest(token)


@dataclass(frozen=True, slots=True)
class NewDevice:
    device_id: str
    secret: str
    site: str
    user_hash_key: bytes


class Authenticator:
    """Checks device credentials, with a short cache so revocation takes effect quickly."""

    def __init__(
        self, store: Store, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Device | None]] = {}

    def fleet_key(self) -> bytes:
        return bytes.fromhex(self._store.set_meta_default(FLEET_KEY, secrets.token_hex(32)))

    def enroll(
        self,
        token: str,
        hostname: str,
        os: str,
        os_version: str,
        agent_version: str,
        hardware_id: str,
        machine_id: str,
        now: float,
    ) -> NewDevice:
        if not token.startswith(TOKEN_PREFIX) or "\x00" in token:
            raise Unauthenticated("enrollment token is malformed")
        facts = (hostname, os, os_version, agent_version, hardware_id, machine_id)
        if any("\x00" in value for value in facts):
            raise InvalidReport([(0, "enrollment facts contain a NUL character")])
        device_id = str(uuid.uuid4())
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        site = self._store.enroll(
            digest(token),
            device_id,
            digest(secret),
            hostname,
            os,
            os_version,
            agent_version,
            hardware_id,
            machine_id,
            now,
        )
        return NewDevice(device_id, secret, site, self.fleet_key())

    def is_cached(self, device_id: str) -> bool:
        """True if authenticating this device needs no database read right now."""
        hit = self._cache.get(device_id)
        return hit is not None and self._clock() - hit[0] < self._ttl

    def device(self, device_id: str) -> Device | None:
        now = self._clock()
        hit = self._cache.get(device_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            dev = self._store.device(device_id)
        except Exception as exc:  # the database is unreachable: retry later, not UNKNOWN
            raise StoreUnavailable(f"cannot check the device credential: {exc}") from None
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[device_id] = (now, dev)
        return dev

    def authenticate(self, device_id: str, authorization: str | None) -> Device:
        if not authorization or not authorization.startswith("Device "):
            raise Unauthenticated("missing device credential (metadata 'authorization')")
        secret = authorization[len("Device ") :]
        dev = self.device(device_id)
        if dev is None:
            raise Unauthenticated(f"unknown device {device_id[:64]!r}")
        if not hmac.compare_digest(dev.secret_hash, digest(secret)):
            raise PermissionDenied(f"the credential does not belong to device {device_id!r}")
        if dev.revoked:
            raise Unauthenticated(f"device {device_id} has been revoked")
        return dev
