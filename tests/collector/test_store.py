"""The same store suite on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import pytest

from fleetpulse.collector.auth import digest
from fleetpulse.collector.errors import Unauthenticated
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    DeviceFacts,
    Phase,
    SigninRecord,
    SigninState,
)

NOW = 1_800_000_000.0
FACTS = DeviceFacts("host-1", "windows", "11", "0.1.0")


def enrolled(
    store: Store,
    device: str = "dev-1",
    site: str = "north",
    hw: str | None = None,
    mid: str | None = None,
) -> None:
    store.create_token(f"t-{device}", digest(f"fpt_{device}"), site, NOW, None, None)
    store.enroll(
        digest(f"fpt_{device}"),
        device,
        digest("secret"),
        "host-1",
        "windows",
        "11",
        "0.1.0",
        hw or f"hw-{device}",
        mid or f"mid-{device}",
        NOW - 30 * 86400,
    )


def signin(
    seq: int,
    session: str,
    total: float | None = 50.0,
    state: SigninState = SigninState.COMPLETE,
    elapsed: float = 0.0,
) -> Incoming:
    return Incoming(
        seq,
        NOW,
        SigninRecord(
            session, "boot-1", "h", NOW - 100, state, total, elapsed, (Phase("core", 40.0),)
        ),
    )


def report(device: str, *records: Incoming) -> Report:
    return Report(device, FACTS, list(records), NOW)


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == store.migrate()


def test_ingest_drops_duplicates_by_seq_and_by_natural_key(store: Store) -> None:
    enrolled(store)
    boot = Incoming(1, NOW, BootRecord("boot-1", NOW - 500, 42.0))
    app = Incoming(3, NOW, AppUsageRecord(NOW - 60, 60.0, "teams.exe", 1, 60.0, None, 2.0))
    [first] = store.ingest([report("dev-1", boot, signin(2, "s1"), app)], NOW)
    assert sorted(i.seq for i in first.accepted) == [1, 2, 3]
    [again] = store.ingest([report("dev-1", boot, signin(2, "s1"), app)], NOW)
    assert again.accepted == [] and again.duplicates == {"boot": 1, "signin": 1, "app_usage": 1}
    # the same sign-in resent under a new seq (memory lost on the device) is still one
    [natural] = store.ingest([report("dev-1", signin(9, "s1"))], NOW)
    assert natural.accepted == [] and natural.duplicate_count == 1
    rows = store.signins_between(NOW - 1000, NOW + 1)
    assert [(r.device_id, r.site, r.total_seconds, r.phases) for r in rows] == [
        ("dev-1", "north", 50.0, {"core": 40.0})
    ]


def test_group_of_reports_commits_together(store: Store) -> None:
    enrolled(store, "a")
    enrolled(store, "b", "south")
    out = store.ingest([report("a", signin(1, "x")), report("b", signin(1, "x"))], NOW)
    assert [len(o.accepted) for o in out] == [1, 1]


def test_in_progress_lifecycle_in_fleet_state(store: Store) -> None:
    enrolled(store)
    store.ingest([report("dev-1", signin(1, "s1", None, SigninState.IN_PROGRESS, 600.0))], NOW)
    state = store.fleet_state(NOW + 30)
    assert state.in_progress == {"north": 1}
    assert state.longest_in_progress["north"] == pytest.approx(630.0)
    # an older progress update arriving late changes nothing
    [late] = store.ingest(
        [report("dev-1", signin(1, "s1", None, SigninState.IN_PROGRESS, 10.0))], NOW
    )
    assert late.duplicate_count == 1
    store.ingest([report("dev-1", signin(2, "s1", 1900.0))], NOW)
    state = store.fleet_state(NOW + 30)
    assert state.in_progress == {"north": 0}
    assert state.longest_in_progress == {"north": 0.0}
    # progress resent after completion does not resurrect it
    store.ingest([report("dev-1", signin(3, "s1", None, SigninState.IN_PROGRESS, 700.0))], NOW)
    assert store.fleet_state(NOW + 30).in_progress == {"north": 0}


def test_fleet_state_device_states_expected_and_unused(store: Store) -> None:
    enrolled(store, "seen")
    enrolled(store, "quiet")
    store.ingest([report("seen", signin(1, "s"))], NOW)
    store.import_inventory([(f"h{i}", "north") for i in range(4)])
    state = store.fleet_state(NOW + 10)
    assert state.devices == {
        ("north", "windows", "0.1.0", "reporting"): 1,
        ("north", "windows", "0.1.0", "silent"): 1,
    }
    assert state.expected == {"north": 4}
    assert state.unused == {"north": 1}  # "quiet" enrolled 30 days ago, never signed in


def test_tokens_expire_get_used_up_and_revoked(store: Store) -> None:
    store.create_token("t1", digest("fpt_a"), "north", NOW, NOW + 60, 1)
    assert (
        store.enroll(digest("fpt_a"), "d1", digest("s"), "h", "linux", "", "", "", "", NOW)
        == "north"
    )
    with pytest.raises(Unauthenticated, match="used up"):
        store.enroll(digest("fpt_a"), "d2", digest("s"), "h", "linux", "", "", "", "", NOW)
    store.create_token("t2", digest("fpt_b"), "north", NOW, NOW + 60, None)
    with pytest.raises(Unauthenticated, match="expired"):
        store.enroll(digest("fpt_b"), "d3", digest("s"), "h", "linux", "", "", "", "", NOW + 61)
    assert store.revoke_token("t2", NOW)
    with pytest.raises(Unauthenticated, match="revoked"):
        store.enroll(digest("fpt_b"), "d4", digest("s"), "h", "linux", "", "", "", "", NOW)
    with pytest.raises(Unauthenticated, match="not known"):
        store.enroll(digest("fpt_zzz"), "d5", digest("s"), "h", "linux", "", "", "", "", NOW)
    assert [t.uses for t in store.tokens()] == [1, 0]
    assert store.device("d2") is None and store.device("d1") is not None


def test_agent_drop_totals_become_increments_once(store: Store) -> None:
    from fleetpulse.contract.records import HealthRecord

    enrolled(store)

    def health(seq: int, dropped: int) -> Report:
        return report("dev-1", Incoming(seq, NOW, HealthRecord({"app_usage": dropped})))

    assert store.ingest([health(1, 3)], NOW)[0].dropped == {"app_usage": 3}
    assert store.ingest([health(2, 5)], NOW)[0].dropped == {"app_usage": 2}
    assert store.ingest([health(2, 5)], NOW)[0].dropped == {}  # a resend adds nothing
    assert store.ingest([health(1, 3)], NOW)[0].dropped == {}  # nor does a late old one


def test_reenrolled_hardware_and_cloned_images_are_surfaced(store: Store) -> None:
    enrolled(store, "old", hw="hw-A", mid="mid-A")
    enrolled(store, "again", hw="hw-A", mid="mid-A2")  # same hardware, OS reinstalled
    enrolled(store, "img-1", hw="hw-B", mid="mid-IMG")
    enrolled(store, "img-2", hw="hw-C", mid="mid-IMG")  # a cloned image on other hardware
    rows = {r.device_id: (r.identity, r.related_device) for r in store.device_rows(NOW)}
    assert rows == {
        "old": ("superseded", "again"),
        "again": ("reenrolled", "old"),
        "img-1": ("clone_suspected", "img-2"),
        "img-2": ("clone_suspected", "img-1"),
    }
    state = store.fleet_state(NOW)
    assert state.identity == {("north", "reenrolled"): 1, ("north", "clone_suspected"): 2}
    assert sum(state.devices.values()) == 3  # the superseded entry no longer counts


def test_top_apps_by_foreground_time(store: Store) -> None:
    enrolled(store)
    apps = [("teams.exe", 900.0), ("excel.exe", 3000.0), ("old.exe", 5000.0)]
    recs = [
        Incoming(
            i + 1,
            NOW,
            AppUsageRecord(
                NOW - (10 * 86400 if a == "old.exe" else 60), 28800.0, a, 1, 28800.0, fg, 1.0
            ),
        )
        for i, (a, fg) in enumerate(apps)
    ]
    store.ingest([report("dev-1", *recs)], NOW)
    assert store.top_apps(NOW - 7 * 86400, 5) == ["excel.exe", "teams.exe"]
    assert store.top_apps(NOW - 7 * 86400, 1) == ["excel.exe"]


def test_per_device_rows_expire_after_a_week_of_silence(store: Store) -> None:
    enrolled(store, "recent")
    enrolled(store, "gone")
    store.ingest([report("recent", signin(1, "s"))], NOW)
    store.ingest([report("gone", signin(1, "s"))], NOW - 8 * 86400)
    rows = store.fleet_state(NOW, per_device=True).per_device
    assert [r[0] for r in rows] == ["recent"]
    assert rows[0][3] == 50.0  # its last sign-in


def test_rows_come_back_with_named_fields(store: Store) -> None:
    enrolled(store, "dev-1", site="north")
    boot = Incoming(2, NOW, BootRecord("boot-1", NOW - 200, None))
    store.ingest([report("dev-1", signin(1, "s", total=None), boot)], NOW)
    store.set_site_setting("north", "report_interval_seconds", "300")
    store.import_inventory([("HOST-1", "north"), ("pc-2", "north")])

    (row,) = store.fleet_state(NOW, per_device=True).per_device
    assert (row.device_id, row.last_login_seconds, row.last_boot_seconds) == ("dev-1", None, None)
    assert row.last_seen == NOW
    (b,) = store.boots_between(NOW - 86400, NOW)
    assert (b.device_id, b.boot_time, b.total_seconds) == ("dev-1", NOW - 200, None)
    (a,) = store.device_activity()
    assert (a.hostname, a.site, a.revoked, a.last_signin_at) == (
        "host-1",
        "north",
        False,
        NOW - 100,
    )
    (s,) = store.site_settings()
    assert (s.site, s.key, s.value) == ("north", "report_interval_seconds", "300")
    (c,) = store.coverage()
    assert (c.site, c.expected, c.enrolled, c.never_enrolled) == ("north", 2, 1, ["pc-2"])
