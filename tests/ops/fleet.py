"""Enrolled devices with chosen hostnames, written through the store's own enroll (the
path the collector takes for Telemetry.Enroll), for tests of the operator commands."""

from __future__ import annotations

import time
import uuid

from fleetpulse.collector import auth
from fleetpulse.collector.store.base import open_store


def enroll_hosts(db: str, site: str, hostnames: list[str]) -> list[str]:
    """Enrolls one device per hostname at ``site``; returns their device ids."""
    store = open_store(db)
    try:
        store.migrate()
        token_id, _secret, token_hash = auth.new_token()
        now = time.time()
        store.create_token(token_id, token_hash, site, now, None, None)
        ids = []
        for host in hostnames:
            device_id = str(uuid.uuid4())
            store.enroll(
                token_hash,
                device_id,
                auth.digest(device_id),
                host,
                "linux",
                "6.1",
                "1.0",
                f"hw-{device_id}",
                f"machine-{device_id}",
                now,
            )
            ids.append(device_id)
        return ids
    finally:
        store.close()
