"""The system disk's media on Linux, walked on sysfs trees laid out as real machines lay
them out (NVMe, SATA, LVM, LUKS, md RAID, btrfs, virtual machines, containers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpulse.agent.platform.linux_disk import physical_disks, root_device, system_disk
from tests.agent.sysfs import PCI_NVME, PCI_SATA, PCI_SATA2, Tree, mountinfo

NVME = f"{PCI_NVME}/nvme0n1"
SDA = f"{PCI_SATA}/block/sda"
SDB = f"{PCI_SATA2}/block/sdb"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def nvme_laptop(tree: Tree) -> Tree:
    tree.disk(NVME, 0, model="SAMSUNG MZVL2512HCJQ-00BL7", dev="259:0")
    return tree.partition(NVME, "nvme0n1p2", 2, "259:2")


def sata_hdd(tree: Tree, path: str = SDA, model: str = "ST1000LM035-1RK1") -> Tree:
    return tree.disk(path, 1, vendor="ATA     ", model=model)


def test_root_on_an_nvme_partition_is_ssd(tree: Tree) -> None:
    nvme_laptop(tree).mounted("259:2", "ext4", "/dev/nvme0n1p2")
    assert root_device(str(tree.root)) == ("259:2", "/dev/nvme0n1p2")
    assert system_disk(str(tree.root)) == "ssd"


def test_root_on_lvm_over_a_sata_hdd_is_hdd(tree: Tree) -> None:
    sata_hdd(tree).partition(SDA, "sda3", 3, "8:3")
    tree.mapped("dm-0", "rhel-root", "253:0", [f"{SDA}/sda3"])
    tree.mounted("253:0", "xfs", "/dev/mapper/rhel-root")
    assert system_disk(str(tree.root)) == "hdd"


def test_luks_over_lvm_spanning_an_ssd_and_an_hdd_is_unknown(tree: Tree) -> None:
    nvme_laptop(tree)
    sata_hdd(tree).partition(SDA, "sda1", 1, "8:1")
    tree.mapped("dm-0", "vg0-root", "253:0", [f"{NVME}/nvme0n1p2", f"{SDA}/sda1"])
    tree.mapped("dm-1", "luks-root", "253:1", ["sys/devices/virtual/block/dm-0"])
    tree.mounted("253:1", "ext4", "/dev/mapper/luks-root")
    disks = physical_disks(str((tree.root / "sys/dev/block/253:1").resolve()))
    assert [Path(d).name for d in disks or []] == ["nvme0n1", "sda"]
    assert system_disk(str(tree.root)) == ""  # the disks disagree


def test_md_raid1_of_two_hdds_is_hdd(tree: Tree) -> None:
    sata_hdd(tree).partition(SDA, "sda1", 1, "8:1")
    sata_hdd(tree, SDB, "WDC WD10EZEX-08W").partition(SDB, "sdb1", 1, "8:17")
    tree.mapped("md0", "", "9:0", [f"{SDA}/sda1", f"{SDB}/sdb1"])
    tree.mounted("9:0", "ext4", "/dev/md0")
    assert system_disk(str(tree.root)) == "hdd"


def test_btrfs_anonymous_device_is_found_through_the_mount_source(tree: Tree) -> None:
    # btrfs reports 0:N in mountinfo; Fedora mounts the "root" subvolume on /
    nvme_laptop(tree).partition(NVME, "nvme0n1p3", 3, "259:3")
    tree.mounted("0:31", "btrfs", "/dev/nvme0n1p3", mount_root="/root")
    assert system_disk(str(tree.root)) == "ssd"


def test_the_last_mount_on_root_is_the_one_in_effect(tree: Tree) -> None:
    nvme_laptop(tree)
    sata_hdd(tree).partition(SDA, "sda1", 1, "8:1")
    text = mountinfo("8:1", "ext4", "/dev/sda1") + mountinfo("259:2", "ext4", "/dev/nvme0n1p2")
    tree.write("proc/self/mountinfo", text)
    assert system_disk(str(tree.root)) == "ssd"


@pytest.mark.parametrize(
    ("disk", "vendor", "model", "major_minor"),
    [
        ("sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda", "", "", "254:0"),  # KVM
        (SDA, "VMware, ", "Virtual disk    ", "8:0"),  # VMware pvscsi
        (SDA, "Msft    ", "Virtual Disk    ", "8:0"),  # Hyper-V
        (SDA, "ATA     ", "QEMU HARDDISK   ", "8:0"),  # QEMU IDE/SATA
    ],
)
def test_virtual_disks_are_unknown_whatever_their_flag(
    tree: Tree, disk: str, vendor: str, model: str, major_minor: str
) -> None:
    tree.disk(disk, 1, vendor=vendor, model=model)
    name = disk.rsplit("/", 1)[-1]
    tree.link(f"sys/dev/block/{major_minor}", disk)
    tree.mounted(major_minor, "ext4", f"/dev/{name}")
    assert system_disk(str(tree.root)) == ""


@pytest.mark.parametrize(
    "mounts",
    [
        "29 1 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u\n",  # container
        "29 1 0:20 / / rw - tmpfs tmpfs rw\n",  # live system
        "29 1 0:40 / / rw - nfs4 server:/export/root rw\n",  # diskless client
        "",  # nothing mounted on / in this namespace
        "29 1 8:1 / /\n",  # a line cut short
    ],
)
def test_no_block_device_under_root_is_unknown(tree: Tree, mounts: str) -> None:
    sata_hdd(tree).partition(SDA, "sda1", 1, "8:1")
    tree.write("proc/self/mountinfo", mounts)
    assert system_disk(str(tree.root)) == ""


def test_unreadable_or_broken_trees_are_unknown(tree: Tree) -> None:
    assert system_disk(str(tree.root)) == ""  # no /proc at all
    sata_hdd(tree).partition(SDA, "sda1", 1, "8:1").mounted("8:1", "ext4", "/dev/sda1")
    (tree.root / SDA / "queue/rotational").write_text("yes\n")
    assert system_disk(str(tree.root)) == ""
    (tree.root / SDA / "queue/rotational").unlink()
    assert system_disk(str(tree.root)) == ""


def test_a_device_mapper_loop_ends_unknown(tree: Tree) -> None:
    tree.mapped("dm-0", "loop", "253:0", ["sys/devices/virtual/block/dm-0"])
    tree.mounted("253:0", "ext4", "/dev/mapper/loop")
    assert system_disk(str(tree.root)) == ""


def test_this_machine_gives_a_media_or_unknown() -> None:
    assert system_disk("/") in {"", "ssd", "hdd"}
