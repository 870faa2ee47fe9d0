"""Hardware facts on Windows from recorded native output: the system's manufacturer and
model, and the media of the disk holding the system drive. Pure: takes command output.

- Manufacturer and model: the ``SystemManufacturer`` and ``SystemProductName`` values of
  ``HKLM\\HARDWARE\\DESCRIPTION\\System\\BIOS``, which Windows fills from the SMBIOS type 1
  table at boot (Microsoft Learn, "Finding the SMBIOS information in the registry"; the key
  holds no serial number).
- System disk: the Storage module's ``MSFT_PhysicalDisk`` of the disk holding the
  ``%SystemDrive%`` partition (``Get-Partition`` -> ``DiskNumber``, ``Get-PhysicalDisk``
  whose ``DeviceId`` is that number). ``MediaType`` is 3 HDD, 4 SSD, 5 SCM, 0 Unspecified
  (Microsoft Learn, "MSFT_PhysicalDisk class"); Windows PowerShell 5.1 writes the number,
  PowerShell 7 may write the name. ``BusType`` 14 (Virtual) and 15 (File Backed Virtual),
  or a model naming a hypervisor, mark a virtual disk, whose media type describes nothing
  physical. No disk found (Storage Spaces, a dynamic volume) is unknown.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpulse.agent.platform.env import Problems

REG_BIOS = r"HKLM\HARDWARE\DESCRIPTION\System\BIOS"
SOURCE = "windows.physical_disk"
#: Prints the system disk's MediaType, BusType and Model as JSON (never its serial number).
PHYSICAL_DISK_SCRIPT = (
    "$n = (Get-Partition -DriveLetter $env:SystemDrive[0]).DiskNumber; "
    "ConvertTo-Json -Compress -InputObject @(Get-PhysicalDisk | "
    'Where-Object DeviceId -eq "$n" | Select-Object MediaType, BusType, Model)'
)
PHYSICAL_DISK = ("powershell", "-NoProfile", "-NonInteractive", "-Command", PHYSICAL_DISK_SCRIPT)

_MEDIA = {3: "hdd", 4: "ssd", "hdd": "hdd", "ssd": "ssd"}
_VIRTUAL_BUS = {14, 15, "virtual", "file backed virtual"}
_VIRTUAL_WORDS = ("virtual", "vmware", "qemu", "vbox", "xen")


def _key(value: Any) -> str | int | None:
    if isinstance(value, str):
        return value.strip().lower()
    return value if isinstance(value, int) else None


def disk_media(disk: dict[str, Any]) -> str:
    """ "ssd" or "hdd" for one MSFT_PhysicalDisk (as JSON); "" if virtual or unspecified."""
    model = str(disk.get("Model") or "").lower()
    if _key(disk.get("BusType")) in _VIRTUAL_BUS or any(w in model for w in _VIRTUAL_WORDS):
        return ""
    return _MEDIA.get(_key(disk.get("MediaType")), "")


def system_disk(output: str, problems: Problems) -> str:
    """The media of the system disk from PHYSICAL_DISK's output; "" (unknown) when no disk
    or several disagreeing ones came back, or the output is not the expected JSON."""
    text = output.strip()
    if not text:
        return ""
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        problems.skip(SOURCE, f"not JSON: {text[:60]!r}")
        return ""
    disks = found if isinstance(found, list) else [found]
    if not all(isinstance(d, dict) for d in disks):
        problems.skip(SOURCE, f"not a list of disks: {text[:60]!r}")
        return ""
    media = {disk_media(d) for d in disks}
    return media.pop() if len(media) == 1 else ""
