"""Builds small sysfs/procfs trees under a directory, laid out as the kernel lays them out
(symlinks relative, as in /sys), for the Linux backend's disk walk."""

from __future__ import annotations

import os
from pathlib import Path

PCI_NVME = "sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
PCI_SATA = "sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"
PCI_SATA2 = "sys/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0"
VIRTUAL_BLOCK = "sys/devices/virtual/block"


def mountinfo(major_minor: str, fstype: str, source: str, mount_root: str = "/") -> str:
    """/proc/self/mountinfo with /proc and /sys mounted over the root file system."""
    return (
        f"22 29 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
        f"23 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
        f"29 1 {major_minor} {mount_root} / rw,relatime shared:1 - {fstype} {source} rw\n"
        f"30 29 0:26 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755\n"
    )


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, text: str) -> Tree:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return self

    def link(self, at: str, target: str) -> Tree:
        """A relative symlink ``at`` -> ``target`` (both relative to the root)."""
        where = self.root / at
        where.parent.mkdir(parents=True, exist_ok=True)
        (self.root / target).mkdir(parents=True, exist_ok=True)
        where.symlink_to(os.path.relpath(self.root / target, where.parent))
        return self

    def mounted(self, major_minor: str, fstype: str, source: str, mount_root: str = "/") -> Tree:
        return self.write("proc/self/mountinfo", mountinfo(major_minor, fstype, source, mount_root))

    def disk(
        self, path: str, rotational: int, vendor: str = "", model: str = "", dev: str = ""
    ) -> Tree:
        """A whole disk at ``path`` (its directory under a controller) with its queue and
        the SCSI/NVMe device attributes; registered in /sys/class/block and /sys/block."""
        name = path.rsplit("/", 1)[-1]
        self.write(f"{path}/queue/rotational", f"{rotational}\n")
        self.write(f"{path}/dev", f"{dev}\n")
        device = path.rsplit("/block/", 1)[0] if "/block/" in path else path.rsplit("/", 1)[0]
        if vendor:
            self.write(f"{device}/vendor", vendor + "\n")
        if model:
            self.write(f"{device}/model", model + "\n")
        self.link(f"{path}/device", device)
        self.link(f"sys/class/block/{name}", path)
        return self.link(f"sys/block/{name}", path)

    def partition(self, disk_path: str, name: str, number: int, major_minor: str) -> Tree:
        path = f"{disk_path}/{name}"
        self.write(f"{path}/partition", f"{number}\n")
        self.write(f"{path}/dev", f"{major_minor}\n")
        self.link(f"sys/class/block/{name}", path)
        return self.link(f"sys/dev/block/{major_minor}", path)

    def mapped(self, name: str, dm_name: str, major_minor: str, slaves: list[str]) -> Tree:
        """A device-mapper (or md, with ``dm_name`` "") device built on ``slaves`` (paths)."""
        path = f"{VIRTUAL_BLOCK}/{name}"
        self.write(f"{path}/queue/rotational", "0\n")  # dm always says 0: not to be trusted
        if dm_name:
            self.write(f"{path}/dm/name", dm_name + "\n")
        for slave in slaves:
            self.link(f"{path}/slaves/{slave.rsplit('/', 1)[-1]}", slave)
        self.link(f"sys/class/block/{name}", path)
        self.link(f"sys/block/{name}", path)
        return self.link(f"sys/dev/block/{major_minor}", path)
