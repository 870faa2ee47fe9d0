"""The device board's per-sign-in breakdown: the largest contributors of each device's latest
sign-in as a per-device gauge, at most PER_DEVICE_CONTRIBUTORS series per device (both
stores), and the boot culprits the Boot board's counter is seeded from."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fleetpulse.collector.model import (
    PER_DEVICE_CONTRIBUTORS,
    DeviceContributor,
    FleetState,
    Incoming,
    Report,
)
from fleetpulse.collector.per_device import CONTRIBUTORS, render
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.fleet import LATEST_CONTRIBUTORS
from fleetpulse.contract.records import BootRecord, Contributor, Culprit
from tests.collector.test_contributor_store import (  # noqa: F401
    DEVICE,
    FACTS,
    NOW,
    SLOW,
    ingest,
    signin,
    store,
)

MANY = tuple(Contributor("startup_app", f"tool{i:02d}.exe", 1.0 + i) for i in range(12))


def test_only_the_latest_sign_ins_largest_contributors_are_kept(store: Store) -> None:  # noqa: F811
    # an older sign-in with larger contributors, the latest with twelve
    ingest(store, (1, signin("s1", NOW - 7200, SLOW)), (2, signin("s2", NOW - 600, MANY)))
    got = store.fleet_state(NOW, per_device=True).per_device_contributors
    assert len(got) == PER_DEVICE_CONTRIBUTORS == 3
    assert got == [
        DeviceContributor(DEVICE, "pc-0107", "hq", "startup_app", f"tool{i:02d}.exe", 1.0 + i)
        for i in (11, 10, 9)
    ]
    # a newer sign-in arriving later replaces them; one without contributors leaves none
    ingest(store, (3, signin("s3", NOW - 60, SLOW)))
    got = store.fleet_state(NOW, per_device=True).per_device_contributors
    assert [(c.kind, c.name, c.seconds) for c in got] == [
        ("gp_extension", "Drive Maps", 1648.123),
        ("gp_script", "map_printers.cmd", 42.318),
        ("profile", "temporary", 8.625),
    ]
    ingest(store, (4, signin("s4", NOW - 30, ())))
    assert store.fleet_state(NOW, per_device=True).per_device_contributors == []
    assert store.fleet_state(NOW).per_device_contributors == []  # only in per-device mode


def test_silent_devices_leave_the_series_with_their_other_gauges(store: Store) -> None:  # noqa: F811
    ingest(store, (1, signin("s1", NOW - 600, SLOW)))
    later = NOW + 8 * 86400  # past PER_DEVICE_MAX_AGE without a report
    state = store.fleet_state(later, per_device=True)
    assert state.per_device == [] and state.per_device_contributors == []


def test_rendered_series_are_bounded_per_device_and_escaped() -> None:
    rows = [
        DeviceContributor(f"d{d}", f"pc{d}", "north", "gp_extension", f'Ext "{k}"\\', 10.0 - k)
        for d in range(50)
        for k in range(PER_DEVICE_CONTRIBUTORS)
    ]
    out = render(FleetState(per_device_contributors=rows)).text.decode()
    (family,) = [f for f in text_string_to_metric_families(out) if f.name == CONTRIBUTORS]
    per_device: dict[str, int] = {}
    for s in family.samples:
        per_device[s.labels["device_id"]] = per_device.get(s.labels["device_id"], 0) + 1
    assert per_device == {f"d{d}": PER_DEVICE_CONTRIBUTORS for d in range(50)}
    first = family.samples[0]
    assert first.labels == {
        "device_id": "d0",
        "hostname": "pc0",
        "site": "north",
        "kind": "gp_extension",
        "name": 'Ext "0"\\',
    }
    assert first.value == 10.0


def test_top_boot_culprits_sum_the_stored_culprits(store: Store) -> None:  # noqa: F811
    boots = [
        BootRecord(
            "b1",
            NOW - 3600,
            90.0,
            culprits=(Culprit("Contoso Sync Client", "application", 12.5),),
        ),
        BootRecord(
            "b2",
            NOW - 1800,
            80.0,
            culprits=(
                Culprit("Contoso Filter Driver", "driver", 9.0),
                Culprit("Contoso Sync Client", "application", 4.0),
            ),
        ),
        BootRecord("b3", NOW - 40 * 86400, 70.0, culprits=(Culprit("Old", "service", 99.0),)),
    ]
    store.ingest(
        [Report(DEVICE, FACTS, [Incoming(i + 1, NOW, b) for i, b in enumerate(boots)], NOW)], NOW
    )
    assert store.top_boot_culprits(NOW - 7 * 86400, 5) == [
        ("application", "Contoso Sync Client"),
        ("driver", "Contoso Filter Driver"),
    ]
    assert store.top_boot_culprits(NOW - 7 * 86400, 1) == [("application", "Contoso Sync Client")]
    assert store.top_boot_culprits(NOW, 5) == []


def test_sqlite_reads_the_latest_sign_ins_per_device_not_every_contributor(
    tmp_path: Path,
) -> None:
    """Without the CROSS JOINs SQLite's planner scans all of signin_contributors (the whole
    kept history) on every refresh; the plan must start from devices and look the rest up."""
    path = tmp_path / "plan.db"
    s = open_store(f"sqlite:///{path}")
    s.migrate()
    s.close()
    with sqlite3.connect(path) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {LATEST_CONTRIBUTORS}", (0, 3))]
    scans = [
        p for p in plan if p.startswith("SCAN ") and "subquery" not in p and p != "SCAN ranked"
    ]
    assert [p.split()[1] for p in scans] == ["d"], plan  # only devices is scanned
    assert any(p.startswith("SEARCH s USING INDEX signins_by_device_time") for p in plan), plan
    assert any(p.startswith("SEARCH c USING INDEX") for p in plan), plan
