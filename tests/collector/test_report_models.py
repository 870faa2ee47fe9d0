"""The report's by-model section: figures per (manufacturer, model) from a real store
(SQLite and PostgreSQL), worked out here with numpy, in every format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import numpy
import pytest

from fleetpulse.collector.model import BootTotal, Hardware, Incoming, Report
from fleetpulse.collector.report import ReportOptions, make_report, render
from fleetpulse.collector.report.models import (
    MIN_SIGNINS,
    ModelSection,
    by_model,
    is_virtual,
    model_table,
)
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.contract.records import BootRecord, DeviceFacts, SigninRecord, SigninState

NOW = 1_800_000_000.0
DAY = 86400.0
GIB = 2**30
# device -> (manufacturer, model, system disk); "" = unknown
DEVICES = {
    "hp1": ("HP", "EliteBook 840 G3", "hdd"),
    "hp2": ("HP", "EliteBook 840 G3", "ssd"),
    "hp3": ("HP", "EliteBook 840 G3", ""),
    "dell1": ("Dell Inc.", "Latitude 5440", "ssd"),
    "dell2": ("Dell Inc.", "Latitude 5440", "ssd"),
    "len1": ("LENOVO", "20XW0026GE", "ssd"),  # few sign-ins: not ranked
    "odd": ("", "", ""),  # an old agent: model unknown
}
# device -> sign-in durations in the period (None: unknown)
SLOW = [40.0 + 7.5 * i for i in range(15)]  # 40 .. 145 s
FAST = [8.0 + 0.5 * i for i in range(12)]  # 8 .. 13.5 s
SIGNINS: dict[str, list[float | None]] = {
    "hp1": [*SLOW, 2400.0, None],
    "hp2": SLOW[:10],
    "hp3": [],
    "dell1": FAST,
    "dell2": [*FAST, 1900.0],
    "len1": [300.0] * 5,
    "odd": [20.0, 30.0],
}
BOOTS: dict[str, list[float | None]] = {
    "hp1": [95.0, 120.0],
    "hp3": [80.0, None],
    "dell1": [25.0],
    "len1": [60.0],
}


def facts(device: str) -> DeviceFacts:
    maker, model, disk = DEVICES[device]
    return DeviceFacts(
        f"pc-{device}",
        "windows",
        "11",
        "1.0",
        manufacturer=maker,
        model=model,
        memory_bytes=8 * GIB,
        system_disk=disk,
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", NOW - 60 * DAY, None, None)
    for dev in DEVICES:
        s.enroll(
            "th", dev, f"s-{dev}", f"pc-{dev}", "windows", "11", "1.0", dev, dev, NOW - 40 * DAY
        )
    for dev in DEVICES:
        records = [
            Incoming(
                seq,
                NOW,
                SigninRecord(
                    f"s{seq}", "b", "u", NOW - DAY - seq * 60, SigninState.COMPLETE, total
                ),
            )
            for seq, total in enumerate(SIGNINS[dev], start=1)
        ]
        # a first-login sign-in is out of the SLA figures: it must not move the model's
        records.append(
            Incoming(
                500,
                NOW,
                SigninRecord(
                    "first", "b", "u", NOW - DAY, SigninState.COMPLETE, 5000.0, first_login=True
                ),
            )
        )
        records += [
            Incoming(1000 + i, NOW, BootRecord(f"boot{i}", NOW - 2 * DAY - i * 60, total))
            for i, total in enumerate(BOOTS.get(dev, []))
        ]
        s.ingest([Report(dev, facts(dev), records, NOW)], NOW)
    yield s
    s.close()


def section(store: Store) -> ModelSection:
    report = make_report(store, NOW, ReportOptions(since="28d"))
    assert report.models is not None
    return report.models


def test_each_model_has_its_devices_sign_ins_and_boots(store: Store) -> None:
    models = {m.label: m for m in section(store).models}
    assert list(models) == [
        "HP EliteBook 840 G3",  # ranked: slowest sign-in p95
        "Dell Inc. Latitude 5440",  # ranked
        "LENOVO 20XW0026GE",  # 5 sign-ins: unranked
        "unknown",  # last
    ]
    hp = models["HP EliteBook 840 G3"]
    known = [*SLOW, 2400.0, *SLOW[:10]]
    assert (hp.devices, hp.signins, hp.signins_known) == (3, 27, 26)
    assert hp.signin_p50 == pytest.approx(numpy.percentile(known, 50))
    assert hp.signin_p95 == pytest.approx(numpy.percentile(known, 95))
    assert hp.long == 1 and hp.ranked
    assert hp.boots == 4 and hp.boot_p95 == pytest.approx(numpy.percentile([95, 120, 80], 95))
    # hp3 has boots only; of the two devices with a known disk one is an HDD
    assert (hp.devices_hdd, hp.devices_disk_known, hp.hdd_share) == (1, 2, 0.5)
    dell = models["Dell Inc. Latitude 5440"]
    assert dell.signins == 25 and dell.long == 1 and dell.hdd_share == 0.0
    assert dell.signin_p95 == pytest.approx(numpy.percentile([*FAST, *FAST, 1900.0], 95))
    lenovo = models["LENOVO 20XW0026GE"]
    assert not lenovo.ranked and lenovo.signins == 5 < MIN_SIGNINS
    odd = models["unknown"]
    assert (odd.manufacturer, odd.model, odd.devices, odd.signins) == (None, None, 1, 2)
    assert odd.hdd_share is None and not odd.ranked


def test_label_names_the_manufacturer_once(store: Store) -> None:
    hp = next(m for m in section(store).models if m.manufacturer == "HP")
    # HP's SMBIOS product names start with the manufacturer already
    assert replace(hp, model="HP EliteBook 840 G8 Notebook PC").label == (
        "HP EliteBook 840 G8 Notebook PC"
    )
    assert replace(hp, model="HPX 1").label == "HP HPX 1"
    assert replace(hp, manufacturer=None).label == "EliteBook 840 G3"


def test_ranked_ties_go_to_the_slower_boots_then_more_devices() -> None:
    hardware = {d: Hardware("M", d[0], None, None) for d in ("a1", "b1", "b2", "c1")}
    signins = [_Entry(d, 30.0) for d in ("a1", "b1", "c1") for _ in range(MIN_SIGNINS)]
    boots = [_Entry("a1", 50.0), _Entry("b1", 90.0), _Entry("b2", 10.0), _Entry("c1", 50.0)]
    got = by_model(hardware, signins, boots).models
    # b: slowest boot p95; a and c tie on boots and devices: by name
    assert [m.model for m in got] == ["b", "a", "c"]


class _Entry:
    """The two attributes by_model reads of a sign-in or a boot."""

    def __init__(self, device_id: str, total_seconds: float | None) -> None:
        self.device_id, self.total_seconds = device_id, total_seconds


def test_every_format_shows_the_section(store: Store) -> None:
    report = make_report(store, NOW, ReportOptions(since="28d"))
    md = render(report, "md")
    assert "## By model" in md and f"at least {MIN_SIGNINS} sign-ins" in md
    assert "| 1 | HP EliteBook 840 G3 | 3 | 27 |" in md
    assert "| – | unknown | 1 | 2 |" in md
    html = render(report, "html")
    assert '<table id="models">' in html and "Dell Inc. Latitude 5440" in html
    data = json.loads(render(report, "json"))["models"]
    assert data["min_signins"] == MIN_SIGNINS
    assert [m["model"] for m in data["models"]] == [
        "EliteBook 840 G3",
        "Latitude 5440",
        "20XW0026GE",
        None,
    ]
    assert data["models"][0]["share_on_hdd"] == 0.5
    assert data["models"][3]["share_on_hdd"] is None  # unknown, not 0


def test_an_empty_period_says_so(store: Store) -> None:
    report = make_report(store, NOW + 200 * DAY, ReportOptions(since="1d"))
    assert report.models is not None and report.models.models == []
    assert "No sign-in or boot in the period." in render(report, "md")


@pytest.mark.parametrize(
    ("manufacturer", "model"),
    [
        ("QEMU", "Standard PC (Q35 + ICH9, 2009)"),
        ("VMware, Inc.", "VMware7,1"),
        ("Microsoft Corporation", "Virtual Machine"),
        ("innotek GmbH", "VirtualBox"),
        ("Xen", "HVM domU"),
        ("Amazon EC2", "t3.medium"),
    ],
)
def test_a_virtual_machine_is_listed_never_ranked(manufacturer: str, model: str) -> None:
    hardware = {
        "vm": Hardware(manufacturer, model, None, None),
        "pc": Hardware("HP", "EliteBook 840 G3", None, "ssd"),
    }
    slow = [BootTotal("vm", 0.0, 3000.0) for _ in range(MIN_SIGNINS)]  # slowest of all
    fast = [BootTotal("pc", 0.0, 30.0) for _ in range(MIN_SIGNINS)]
    section = by_model(hardware, [*slow, *fast], [])
    assert [(m.model, m.ranked, m.virtual) for m in section.models] == [
        ("EliteBook 840 G3", True, False),
        (model, False, True),
    ]
    assert [row[0] for row in model_table(section)[1]] == ["1", "VM"]


def test_a_surface_is_not_a_virtual_machine() -> None:
    assert not is_virtual("Microsoft Corporation", "Surface Pro 7")
    assert not is_virtual("Dell Inc.", "Latitude 5440")
