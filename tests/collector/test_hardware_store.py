"""Device hardware (migration 7) written at enrolment and kept from report facts, on SQLite
and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Hardware, Incoming, Report, SigninDuration
from fleetpulse.collector.serde import facts_from_proto
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.validation import check_facts
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState
from fleetpulse.contract.serde import facts_to_proto
from fleetpulse.v1 import telemetry_pb2 as pb

NOW = 1_800_000_000.0
GIB = 2**30
T14 = Hardware("LENOVO", "20XW0026GE", 16 * GIB, "ssd")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", "th", "hq", NOW, None, None)
    s.enroll("th", "d1", "s1", "pc-1", "windows", "11", "1.0", "hw1", "m1", NOW, hardware=T14)
    s.enroll("th", "d2", "s2", "pc-2", "linux", "12", "1.0", "hw2", "m2", NOW)
    yield s
    s.close()


def facts(**hardware: object) -> DeviceFacts:
    return DeviceFacts("pc-1", "windows", "11", "1.1", **hardware)  # type: ignore[arg-type]


def signin(session: str, total: float | None, first_login: bool | None = None) -> SigninRecord:
    return SigninRecord(
        session_id=session,
        boot_id="b",
        user_hash="u",
        started_at=NOW - 600,
        state=SigninState.COMPLETE,
        total_seconds=total,
        first_login=first_login,
    )


def test_enrolment_stores_the_hardware_and_unknown_stays_null(store: Store) -> None:
    assert store.schema_version() >= 7
    hw = store.device_hardware()
    assert hw["d1"] == T14
    assert hw["d2"] == Hardware(None, None, None, None)


def test_report_facts_update_the_hardware_like_the_hostname(store: Store) -> None:
    new = facts(manufacturer="Dell Inc.", model="Latitude 5440", memory_bytes=8 * GIB)
    store.ingest([Report("d1", new, [], NOW)], NOW)
    # the disk this agent could not tell is unknown now, not the old value
    assert store.device_hardware()["d1"] == Hardware("Dell Inc.", "Latitude 5440", 8 * GIB, None)
    store.ingest([Report("d2", facts(system_disk="hdd", memory_bytes=2**63 - 1), [], NOW)], NOW)
    assert store.device_hardware()["d2"] == Hardware(None, None, 2**63 - 1, "hdd")


def test_signin_durations_carry_the_device_and_the_flag(store: Store) -> None:
    records = [
        Incoming(1, NOW, signin("a", 30.0)),
        Incoming(2, NOW, signin("b", None)),
        Incoming(3, NOW, signin("c", 900.0, first_login=True)),
    ]
    store.ingest([Report("d1", facts(), records, NOW)], NOW)
    got = sorted(store.signin_durations(NOW - 3600, NOW), key=lambda r: r.total_seconds or 0)
    assert got == [
        SigninDuration("d1", None, False),
        SigninDuration("d1", 30.0, False),
        SigninDuration("d1", 900.0, True),
    ]
    assert store.signin_durations(NOW - 60, NOW) == []  # by event time


@pytest.mark.parametrize(
    ("hardware", "message"),
    [
        ({"system_disk": "nvme"}, "facts system_disk 'nvme' is not one of ssd, hdd or empty"),
        ({"system_disk": "SSD"}, "facts system_disk 'SSD'"),
        ({"model": "T14\x00"}, "facts model contains a NUL"),
        ({"manufacturer": "x" * 257}, "facts manufacturer is longer than 256"),
        ({"memory_bytes": 2**63}, "facts memory_bytes must be within 0..9223372036854775807"),
    ],
)
def test_hardware_no_column_can_hold_is_refused(hardware: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidReport, match=message):
        check_facts(facts(**hardware))


def test_known_and_unknown_hardware_pass() -> None:
    check_facts(facts(manufacturer="HP", model="EliteBook 840 G8", system_disk="ssd"))
    check_facts(facts())


def test_hardware_facts_cross_the_wire_both_ways() -> None:
    sent = facts(manufacturer="Dell Inc.", model="Latitude 5440", memory_bytes=16 * GIB)
    sent = replace(sent, system_disk="ssd")
    wire = pb.DeviceFacts.FromString(facts_to_proto(sent).SerializeToString())
    assert facts_from_proto(wire) == sent
    cut = facts_from_proto(pb.DeviceFacts(manufacturer="M" * 300, model="X" * 300))
    assert (len(cut.manufacturer), len(cut.model)) == (64, 64)  # cut like the other facts
