"""Boot phases from recorded ``systemctl show`` output, checked against systemd-analyze's
arithmetic to the microsecond."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_systemd import (
    GRAPHICAL_PROPERTY,
    BootTiming,
    boot_timing,
    parse_show,
    parse_utc_timestamp,
    virtualization,
)
from fleetpulse.contract.phases import BOOT_PHASES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "linux"


def timing(name: str, problems: Problems | None = None) -> BootTiming:
    problems = problems or Problems()
    manager = parse_show((FIXTURES / f"systemctl-show-{name}.txt").read_text(), problems)
    graphical = parse_show(
        (FIXTURES / f"systemctl-show-{name}-graphical.txt").read_text(), problems
    ).get(GRAPHICAL_PROPERTY)
    return boot_timing(manager, graphical, problems)


def phases(t: BootTiming) -> dict[str, float]:
    return {p.name: p.seconds for p in t.phases}


def test_uefi_boot_with_initrd_has_every_phase():
    t = timing("uefi")
    # "Startup finished in 4.563s (firmware) + 2.918s (loader) + 1.812s (kernel)
    #  + 3.121s (initrd) + 8.968s (userspace) = 21.384s"
    assert phases(t) == {
        "firmware": pytest.approx(7.482161 - 2.918327, abs=1e-6),
        "loader": pytest.approx(2.918327, abs=1e-6),
        "kernel": pytest.approx(1.812650, abs=1e-6),
        "initrd": pytest.approx(4.934126 - 1.812650, abs=1e-6),
        "userspace": pytest.approx(13.902554 - 4.934126, abs=1e-6),
        "login_screen": pytest.approx(12.873342, abs=1e-6),
    }
    assert t.total_seconds == pytest.approx(21.384715, abs=1e-6)
    assert t.kernel_boot is True


def test_total_is_the_sum_of_phases_as_systemd_analyze_prints_it():
    for name in ("uefi", "noinitrd"):
        t = timing(name)
        summed = sum(p.seconds for p in t.phases if p.name != "login_screen")
        assert t.total_seconds == pytest.approx(summed, abs=1e-6)


def test_boot_without_initrd_counts_the_kernel_up_to_userspace():
    t = timing("noinitrd")
    assert phases(t) == {
        "firmware": pytest.approx(3.888889, abs=1e-6),
        "loader": pytest.approx(1.234567, abs=1e-6),
        "kernel": pytest.approx(2.100789, abs=1e-6),
        "userspace": pytest.approx(7.199334, abs=1e-6),
        "login_screen": pytest.approx(9.012345, abs=1e-6),
    }
    assert "initrd" not in phases(t)
    assert t.total_seconds == pytest.approx(14.423579, abs=1e-6)


def test_container_knows_only_its_own_userspace_and_no_total():
    t = timing("container")
    # The host kernel's start is not this system's boot: no kernel/firmware, no total.
    assert phases(t) == {"userspace": pytest.approx(2.222333, abs=1e-6)}
    assert t.total_seconds is None
    assert t.kernel_boot is False


def test_bios_boot_without_firmware_timestamps_starts_at_the_kernel():
    problems = Problems()
    manager = parse_show(
        "FirmwareTimestampMonotonic=0\nLoaderTimestampMonotonic=0\n"
        "InitRDTimestampMonotonic=912001\nUserspaceTimestampMonotonic=2402336\n"
        "FinishTimestampMonotonic=6215009\nSecurityStartTimestampMonotonic=2403000\n",
        problems,
    )
    t = boot_timing(manager, 6201554, problems)
    assert phases(t) == {
        "kernel": pytest.approx(0.912001, abs=1e-6),
        "initrd": pytest.approx(1.490335, abs=1e-6),
        "userspace": pytest.approx(3.812673, abs=1e-6),
        "login_screen": pytest.approx(6.201554, abs=1e-6),
    }
    assert t.total_seconds == pytest.approx(6.215009, abs=1e-6)


def test_unfinished_boot_has_no_userspace_and_no_total():
    problems = Problems()
    text = (FIXTURES / "systemctl-show-uefi.txt").read_text()
    manager = parse_show(
        text.replace("FinishTimestampMonotonic=13902554", "FinishTimestampMonotonic=0"), problems
    )
    t = boot_timing(manager, None, problems)
    assert t.total_seconds is None
    assert "userspace" not in phases(t) and "login_screen" not in phases(t)
    assert phases(t)["kernel"] == pytest.approx(1.812650, abs=1e-6)


def test_soft_reboot_keeps_only_the_new_userspace():
    problems = Problems()
    text = (
        (FIXTURES / "systemctl-show-uefi.txt")
        .read_text()
        .replace(
            "SoftRebootStartTimestampMonotonic=0", "SoftRebootStartTimestampMonotonic=3600000000"
        )
        .replace("UserspaceTimestampMonotonic=4934126", "UserspaceTimestampMonotonic=3601000000")
        .replace("FinishTimestampMonotonic=13902554", "FinishTimestampMonotonic=3604500000")
    )
    t = boot_timing(parse_show(text, problems), 12873342, problems)
    assert phases(t) == {"userspace": pytest.approx(3.5, abs=1e-6)}
    assert t.total_seconds is None


def test_graphical_target_never_reached_has_no_login_screen():
    problems = Problems()
    manager = parse_show((FIXTURES / "systemctl-show-uefi.txt").read_text(), problems)
    t = boot_timing(manager, 0, problems)
    assert "login_screen" not in phases(t)
    assert t.total_seconds == pytest.approx(21.384715, abs=1e-6)


def test_phase_names_are_in_the_vocabulary():
    for name in ("uefi", "noinitrd", "container"):
        assert set(phases(timing(name))) <= set(BOOT_PHASES)


def test_malformed_properties_are_skipped_counted_and_what_needs_them_is_unknown():
    problems = Problems()
    manager = parse_show(
        "FirmwareTimestampMonotonic=7482161\n"
        "LoaderTimestampMonotonic=n/a\n"  # not a number
        "garbage without equals sign\n"
        "InitRDTimestampMonotonic=1812650\n"
        "UserspaceTimestampMonotonic=4934126\n"
        "FinishTimestampMonotonic=13902554\n"
        "SecurityStartTimestampMonotonic=4936012\n",
        problems,
    )
    assert problems.counts["systemd"] == 2
    t = boot_timing(manager, 12873342, problems)
    # firmware and loader need the unreadable loader time; the rest still computes.
    assert phases(t) == {
        "kernel": pytest.approx(1.812650, abs=1e-6),
        "initrd": pytest.approx(3.121476, abs=1e-6),
        "userspace": pytest.approx(8.968428, abs=1e-6),
        "login_screen": pytest.approx(12.873342, abs=1e-6),
    }
    assert t.total_seconds is None


def test_unreadable_initrd_time_does_not_pass_initrd_off_as_kernel():
    problems = Problems()
    text = (FIXTURES / "systemctl-show-uefi.txt").read_text()
    manager = parse_show(
        text.replace("InitRDTimestampMonotonic=1812650", "InitRDTimestampMonotonic=-5"), problems
    )
    t = boot_timing(manager, None, problems)
    assert problems.counts["systemd"] == 1
    assert "kernel" not in phases(t) and "initrd" not in phases(t)
    assert phases(t)["firmware"] == pytest.approx(4.563834, abs=1e-6)
    assert phases(t)["userspace"] == pytest.approx(8.968428, abs=1e-6)
    assert t.total_seconds is None


def test_missing_properties_mean_unknown_not_zero():
    problems = Problems()
    t = boot_timing(parse_show("", problems), None, problems)
    assert t.phases == () and t.total_seconds is None and problems.total == 0


def test_out_of_order_timestamps_give_unknown_not_negative_phases():
    problems = Problems()
    manager = parse_show(
        "InitRDTimestampMonotonic=9000000\nUserspaceTimestampMonotonic=4000000\n"
        "FinishTimestampMonotonic=13000000\nSecurityStartTimestampMonotonic=4000100\n",
        problems,
    )
    t = boot_timing(manager, None, problems)
    assert t.phases == () and t.total_seconds is None
    assert problems.counts["systemd"] == 1


def test_utc_timestamps_parse_to_the_microsecond():
    assert parse_utc_timestamp("Thu 2024-05-02 07:14:06.623456 UTC") == pytest.approx(
        1714634046.623456, abs=1e-6
    )
    assert parse_utc_timestamp("") is None
    assert parse_utc_timestamp("n/a") is None
    assert parse_utc_timestamp("Thu 2024-05-02 07:14:06 CEST") is None


def test_virtualization_is_text_not_a_timestamp():
    problems = Problems()
    text = "Virtualization=kvm\nFirmwareTimestampMonotonic=5\n"
    assert parse_show(text, problems) == {"FirmwareTimestampMonotonic": 5}
    assert problems.total == 0  # not "not a whole number of µs"
    assert virtualization(text) == "kvm"
    assert virtualization("Virtualization=\n") == ""  # bare metal: systemd's empty string
    assert virtualization("FirmwareTimestampMonotonic=5\n") is None  # not asked: unknown
