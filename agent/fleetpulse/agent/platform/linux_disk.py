"""The media of the disk holding ``/`` on Linux, from sysfs: "ssd", "hdd" or "" (unknown).

The root file system's device comes from ``/proc/self/mountinfo`` (proc(5): the third
field is the device's ``major:minor``, the field after `` - `` the file system type and the
one after it the mount source). ``/sys/dev/block/MAJOR:MINOR`` links to the block device
(sysfs-dev ABI); a partition has a ``partition`` file and lives in its disk's directory; a
device-mapper or md device lists what it is built on in ``slaves/`` (LVM, LUKS, RAID).
Each physical disk's ``queue/rotational`` is 1 for a spinning disk and 0 for one without
moving parts (Documentation/ABI/stable/sysfs-block). Several disks that disagree, a
virtual disk (virtio, Xen, Hyper-V, VMware, QEMU, VirtualBox: their flag describes nothing
physical), a file system with no block device (overlay, tmpfs, NFS) or anything unreadable
give "". Everything is read below ``root``, so tests replay recorded trees.
"""

from __future__ import annotations

import os

MOUNTINFO = "proc/self/mountinfo"
#: Kernel names of paravirtual disks: virtio-blk, Xen, and the loop/zram/ram devices.
VIRTUAL_NAMES = ("vd", "xvd", "loop", "zram", "ram", "nbd")
#: ``device/vendor`` or ``device/model`` words of virtual SCSI/ATA/NVMe disks.
VIRTUAL_WORDS = ("qemu", "vmware", "virtual", "vbox", "msft", "xen", "google", "amazon")
MAX_DEPTH = 8  # stacks of dm/md are a few levels deep; a loop in sysfs is a broken tree


def _read(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def root_device(root: str) -> tuple[str, str] | None:
    """``(major:minor, source)`` of the last mount on ``/`` (the one in effect), or None."""
    text = _read(root, MOUNTINFO)
    if text is None:
        return None
    found = None
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if sep and len(fields) >= 5 and len(rest) >= 2 and fields[4] == "/":
            found = (fields[2], rest[1])
    return found


def _block_dir(root: str, majmin: str, source: str) -> str | None:
    """The sysfs directory of the root's block device, or None (no block device)."""
    link = os.path.join(root, "sys/dev/block", majmin)
    if not majmin.startswith("0:") and os.path.exists(link):
        return os.path.realpath(link)
    # btrfs and others report an anonymous 0:N; the mount source names the device
    if not source.startswith("/dev/"):
        return None
    name = os.path.basename(source)
    if source.startswith("/dev/mapper/"):
        name = _dm_by_name(root, name) or ""
    path = os.path.join(root, "sys/class/block", name)
    return os.path.realpath(path) if name and os.path.exists(path) else None


def _dm_by_name(root: str, name: str) -> str | None:
    base = os.path.join(root, "sys/block")
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return None
    return next((e for e in entries if _read(root, f"sys/block/{e}/dm/name") == name), None)


def physical_disks(block_dir: str, depth: int = 0) -> list[str] | None:
    """The sysfs directories of the whole disks under a block device (itself if it is
    one), or None when the tree is broken or too deep."""
    if depth > MAX_DEPTH:
        return None
    if os.path.exists(os.path.join(block_dir, "partition")):
        return physical_disks(os.path.dirname(block_dir), depth + 1)
    slaves = os.path.join(block_dir, "slaves")
    try:
        below = sorted(os.listdir(slaves)) if os.path.isdir(slaves) else []
    except OSError:
        return None
    if not below:
        return [block_dir]
    disks: list[str] = []
    for name in below:
        found = physical_disks(os.path.realpath(os.path.join(slaves, name)), depth + 1)
        if found is None:
            return None
        disks += [d for d in found if d not in disks]
    return disks


def _virtual(disk: str) -> bool:
    name = os.path.basename(disk)
    if name.startswith(VIRTUAL_NAMES) or f"{os.sep}virtual{os.sep}" in disk:
        return True
    words = " ".join(_read(disk, f"device/{f}") or "" for f in ("vendor", "model")).lower()
    return any(w in words for w in VIRTUAL_WORDS)


def disk_media(disk: str) -> str:
    """ "ssd" or "hdd" from one whole disk's ``queue/rotational``; "" if virtual or
    unreadable."""
    if _virtual(disk):
        return ""
    return {"0": "ssd", "1": "hdd"}.get(_read(disk, "queue/rotational") or "", "")


def system_disk(root: str = "/") -> str:
    """ "ssd", "hdd" or "" (unknown) for the disk(s) holding ``/``."""
    found = root_device(root)
    block = None if found is None else _block_dir(root, *found)
    disks = None if block is None else physical_disks(block)
    if not disks:
        return ""
    media = {disk_media(d) for d in disks}
    return media.pop() if len(media) == 1 else ""
