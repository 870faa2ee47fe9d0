"""Each device's latest sign-in and boot are kept on its row at ingest (schema 5), so the
fleet-state refresh reads devices only: the per-device figures follow event time, not
arrival order; the unused-devices count follows the latest sign-in; and migrating an
older database fills the new columns from the stored rows (both stores)."""

from __future__ import annotations

from fleetpulse.collector.model import Incoming
from fleetpulse.collector.store import migrations
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import BootRecord, SigninRecord, SigninState
from tests.collector.test_store import NOW, enrolled, report


def _signin(seq: int, started: float, total: float | None) -> Incoming:
    return Incoming(
        seq, NOW, SigninRecord(f"s{seq}", "b", "h", started, SigninState.COMPLETE, total)
    )


def _boot(seq: int, at: float, total: float) -> Incoming:
    return Incoming(seq, NOW, BootRecord(f"b{seq}", at, total))


def test_latest_sign_in_and_boot_follow_event_time(store: Store) -> None:
    enrolled(store, "dev-1")
    store.ingest([report("dev-1", _signin(1, NOW - 100, 30.0), _boot(2, NOW - 200, 50.0))], NOW)
    # older events arriving later (a spool draining) do not replace the latest ...
    store.ingest([report("dev-1", _signin(3, NOW - 900, 99.0), _boot(4, NOW - 900, 99.0))], NOW)
    # ... and a duplicate of a newer one changes nothing either
    store.ingest([report("dev-1", _signin(3, NOW - 10, 77.0))], NOW)
    (row,) = store.fleet_state(NOW, per_device=True).per_device
    assert (row.last_login_seconds, row.last_boot_seconds) == (30.0, 50.0)
    store.ingest([report("dev-1", _signin(5, NOW - 50, None), _boot(6, NOW - 60, 45.0))], NOW)
    (row,) = store.fleet_state(NOW, per_device=True).per_device
    assert (row.last_login_seconds, row.last_boot_seconds) == (None, 45.0)  # unknown stays so


def test_unused_follows_the_latest_sign_in(store: Store) -> None:
    enrolled(store, "dev-1")  # enrolled 30 days before NOW
    enrolled(store, "dev-2")
    store.ingest([report("dev-1", _signin(1, NOW - 20 * 86400, 30.0))], NOW)
    store.ingest([report("dev-2", _signin(1, NOW - 86400, 30.0))], NOW)
    assert store.fleet_state(NOW).unused == {"north": 1}


def test_migration_fills_the_latest_from_stored_rows(db_url: str) -> None:
    old = open_store(db_url)
    try:
        migrations.migrate(old.db, target=4)  # type: ignore[attr-defined]
        enrolled_at = NOW - 30 * 86400
        for sql, params in (
            (
                "INSERT INTO devices (device_id, secret_hash, site, hostname, os, os_version,"
                " agent_version, hardware_id, machine_id, enrolled_at, last_seen)"
                " VALUES (?, 'x', 'north', 'h', 'linux', '', '', 'hw', 'mid', ?, ?)",
                ("dev-1", enrolled_at, NOW),
            ),
            (
                "INSERT INTO signins (device_id, seq, boot_id, session_id, user_hash, started_at,"
                " total_seconds, phases, received_at) VALUES"
                " ('dev-1', 1, 'b', 's1', 'h', ?, 30.0, '{}', ?),"
                " ('dev-1', 2, 'b', 's2', 'h', ?, 99.0, '{}', ?)",
                (NOW - 100, NOW, NOW - 900, NOW),
            ),
            (
                "INSERT INTO boots (device_id, seq, boot_id, boot_time, total_seconds,"
                " boot_type, phases, culprits, received_at)"
                " VALUES ('dev-1', 3, 'b', ?, 50.0, 'cold', '{}', '[]', ?)",
                (NOW - 200, NOW),
            ),
        ):
            with old.db.write() as conn:  # type: ignore[attr-defined]
                old.db.x(conn, sql, params)  # type: ignore[attr-defined]
    finally:
        old.close()
    new = open_store(db_url)
    try:
        new.migrate()
        (row,) = new.fleet_state(NOW, per_device=True).per_device
        assert (row.last_login_seconds, row.last_boot_seconds) == (30.0, 50.0)
        assert new.fleet_state(NOW).unused == {"north": 0}
    finally:
        new.close()
