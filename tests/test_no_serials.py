"""No serial number leaves a device: the contract has no field for one and the agent reads
none of the places that hold one (DMI serial files, WMI/Storage SerialNumber properties)."""

from __future__ import annotations

from pathlib import Path

from fleetpulse.v1 import telemetry_pb2 as pb

ROOT = Path(__file__).parent.parent
#: Where serial numbers live: sysfs DMI files (Linux), WMI/CIM and Storage properties
#: (Windows), the I/O Registry key (macOS).
SERIAL_SOURCES = (
    "product_serial",
    "board_serial",
    "chassis_serial",
    "serialnumber",
    "ioplatformserialnumber",
)


def test_no_contract_field_is_a_serial_number() -> None:
    names = [
        f"{m.name}.{f.name}" for m in pb.DESCRIPTOR.message_types_by_name.values() for f in m.fields
    ]
    assert not [n for n in names if "serial" in n.lower()]


def test_the_agent_and_the_simulator_read_no_serial_number() -> None:
    sources = [
        *(ROOT / "agent").rglob("*.py"),
        *(ROOT / "sim").rglob("*.py"),
        *(ROOT / "packaging").rglob("*.py"),
    ]
    assert sources
    found = [
        f"{p.relative_to(ROOT)}: {word}"
        for p in sources
        for word in SERIAL_SOURCES
        if word in p.read_text(encoding="utf-8").lower()
    ]
    assert found == []
