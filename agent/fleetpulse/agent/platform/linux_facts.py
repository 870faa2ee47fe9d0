"""Device facts from ``os-release`` and the DMI chassis type. Pure: takes file contents."""

from __future__ import annotations

import shlex

from fleetpulse.agent.platform.env import Problems

OS_RELEASE_SOURCE = "os_release"

#: SMBIOS chassis types (DMTF DSP0134, "System Enclosure or Chassis Types") the product
#: distinguishes; everything else (servers, blades, "Other", "Unknown") stays "".
_CHASSIS = {
    **dict.fromkeys((3, 4, 5, 6, 7, 13, 15, 16, 24, 35, 36), "desktop"),
    **dict.fromkeys((8, 9, 10, 14, 31), "laptop"),  # 31: convertible, keyboard attached
    **dict.fromkeys((11, 30, 32), "tablet"),  # hand held, tablet, detachable
}


def parse_os_release(text: str, problems: Problems) -> dict[str, str]:
    """``KEY=value`` assignments with shell quoting, per os-release(5)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        if not sep or not key.isidentifier():
            problems.skip(OS_RELEASE_SOURCE, f"not an assignment: {line[:80]!r}")
            continue
        try:
            fields[key] = " ".join(shlex.split(raw))
        except ValueError as exc:  # unbalanced quotes
            problems.skip(OS_RELEASE_SOURCE, f"{key}: {exc}")
    return fields


def form_factor(chassis_type: str) -> str:
    """desktop / laptop / tablet from ``/sys/class/dmi/id/chassis_type``; "" if other."""
    raw = chassis_type.strip()
    return _CHASSIS.get(int(raw), "") if raw.isascii() and raw.isdigit() else ""
