"""SMBIOS system strings (manufacturer, product name) as facts: placeholders are unknown.

Firmware fills the SMBIOS type 1 "System Information" strings (DMTF DSP0134, 7.2); boards
sold without a system vendor carry the BIOS vendor's placeholder text instead ("To be filled
by O.E.M.", "System Product Name", "Default string", ...). Such a value names no model, so
it is "" (unknown), like an empty one. Serial numbers are never read.
"""

from __future__ import annotations

#: The longest manufacturer or model the collector keeps (telemetry.proto DeviceFacts).
MAX_LENGTH = 64

#: Placeholder texts seen in SMBIOS type 1 strings, compared case-insensitively.
PLACEHOLDERS = frozenset(
    {
        "to be filled by o.e.m.",
        "to be filled by o.e.m",
        "o.e.m.",
        "oem",
        "system manufacturer",
        "system product name",
        "system version",
        "default string",
        "not applicable",
        "not specified",
        "none",
        "unknown",
        "undefined",
        "type1productconfigid",
        "x.x",
    }
)


def system_string(raw: str) -> str:
    """``raw`` stripped and cut to MAX_LENGTH characters; "" for a placeholder, an empty
    value or one with control characters (an unprogrammed EEPROM reads as 0xFF bytes)."""
    value = " ".join(raw.split())
    if not value or value.lower() in PLACEHOLDERS or not value.isprintable():
        return ""
    if not any(c.isalnum() for c in value):
        return ""
    return value[:MAX_LENGTH].rstrip()
