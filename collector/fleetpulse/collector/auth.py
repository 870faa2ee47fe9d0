"""Enrollment tokens and device credentials: generated random, stored only as hashes.

Failed authentications (a bad token on Enroll, a bad credential on Report) take a token
from their peer address's bucket (collector.ratelimit.FailureLimiter); a peer out of
tokens is answered RESOURCE_EXHAUSTED before any hashing or database read, except for a
device whose credential this collector has accepted before (kept in memory), so guessing
from an address shared with good devices does not lock those devices out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fleetpulse.collector.errors import (
    InvalidReport,
    PermissionDenied,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
)
from fleetpulse.collector.metrics import AuthMetrics
from fleetpulse.collector.model import UNKNOWN_HARDWARE, Device, Hardware
from fleetpulse.collector.ratelimit import FailureLimiter, peer_address
from fleetpulse.collector.store.base import Store

TOKEN_PREFIX = "fpt_"
SECRET_PREFIX = "fpd_"
FLEET_KEY = "user_hash_key"
MAX_KNOWN = 1_000_000  # devices whose accepted credential is remembered (~200 bytes each)


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
        self,
        store: Store,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        guard: FailureLimiter | None = None,
        metrics: AuthMetrics | None = None,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Device | None]] = {}
        self._guard = guard or FailureLimiter(rate=0)
        self._metrics = metrics or AuthMetrics(None)
        self._known: dict[str, str] = {}  # device_id -> secret hash last accepted

    def _throttle(self, rpc: str, address: str) -> None:
        """Raises RateLimited if ``address`` is over its failed-authentication budget."""
        wait = self._guard.wait(address)
        if wait > 0:
            self._metrics.refused(rpc)
            raise RateLimited(
                f"too many failed authentications from {address} (limit "
                f"{self._guard.rate:g}/s, burst {self._guard.burst:g}); retry in {wait:.1f} s",
                retry_after=wait,
            )

    def _failed(self, rpc: str, address: str, err: Unauthenticated | PermissionDenied) -> None:
        self._guard.failed(address)
        self._metrics.failure(rpc, err.reason)

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
        expected_site: str = "",
        peer: str = "",
        hardware: Hardware = UNKNOWN_HARDWARE,
    ) -> NewDevice:
        """Exchanges a token for a new device credential. ``expected_site`` ("" = any):
        a token of another site raises WrongSite (FAILED_PRECONDITION) and stores nothing.
        ``peer``: the gRPC peer string, for the failed-authentication budget. Raises
        Unauthenticated, WrongSite, InvalidReport, RateLimited."""
        address = peer_address(peer)
        self._throttle("Enroll", address)
        expected_site = expected_site.strip()
        facts = (hostname, os, os_version, agent_version, hardware_id, machine_id, expected_site)
        if any("\x00" in value for value in facts):
            raise InvalidReport([(0, "enrollment facts contain a NUL character")])
        device_id = str(uuid.uuid4())
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        try:
            if not token.startswith(TOKEN_PREFIX) or "\x00" in token:
                raise Unauthenticated("enrollment token is malformed", reason="malformed")
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
                expected_site,
                hardware,
            )
        except Unauthenticated as err:
            self._failed("Enroll", address, err)
            raise
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

    def _vouched(self, device_id: str, authorization: str | None) -> bool:
        """True if this collector accepted exactly this credential for this device before
        (memory only: no database read)."""
        known = self._known.get(device_id)
        if known is None or not authorization or not authorization.startswith("Device "):
            return False
        return hmac.compare_digest(known, digest(authorization[len("Device ") :]))

    def authenticate(self, device_id: str, authorization: str | None, peer: str = "") -> Device:
        """The device whose credential ``authorization`` ("Device <secret>") is. ``peer``:
        the gRPC peer string, for the failed-authentication budget. Raises
        Unauthenticated, PermissionDenied, RateLimited, StoreUnavailable."""
        address = peer_address(peer)
        if not self._vouched(device_id, authorization):
            self._throttle("Report", address)
        try:
            dev = self._check(device_id, authorization)
        except (Unauthenticated, PermissionDenied) as err:
            if err.reason in ("unknown", "revoked"):  # not on a wrong secret: anyone can send one
                self._known.pop(device_id, None)
            self._failed("Report", address, err)
            raise
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[device_id] = dev.secret_hash
        return dev

    def _check(self, device_id: str, authorization: str | None) -> Device:
        if not authorization or not authorization.startswith("Device "):
            raise Unauthenticated(
                "missing device credential (metadata 'authorization')", reason="missing"
            )
        secret = authorization[len("Device ") :]
        dev = self.device(device_id)
        if dev is None:
            raise Unauthenticated(f"unknown device {device_id[:64]!r}", reason="unknown")
        if not hmac.compare_digest(dev.secret_hash, digest(secret)):
            raise PermissionDenied(f"the credential does not belong to device {device_id!r}")
        if dev.revoked:
            raise Unauthenticated(f"device {device_id} has been revoked", reason="revoked")
        return dev
