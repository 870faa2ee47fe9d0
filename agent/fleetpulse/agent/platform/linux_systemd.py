"""Boot phases from systemd's manager timestamps, computed the way ``systemd-analyze`` does.

Input is the text of ``systemctl show --property=...``; nothing here touches the OS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetpulse.agent.platform.env import Problems
from fleetpulse.contract.records import Phase

SOURCE = "systemd"

#: Manager properties, all in µs of CLOCK_MONOTONIC. Firmware and loader are stored as
#: "this long before the kernel started"; the others count from kernel start.
MANAGER_PROPERTIES = (
    "FirmwareTimestampMonotonic",
    "LoaderTimestampMonotonic",
    "InitRDTimestampMonotonic",
    "UserspaceTimestampMonotonic",
    "FinishTimestampMonotonic",
    # systemd-analyze only trusts the kernel-side timestamps when the manager set up
    # security modules itself (never in a container) and the boot was not a soft reboot.
    "SecurityStartTimestampMonotonic",
    "SoftRebootStartTimestampMonotonic",
)
#: The manager's virtualization id: empty on bare metal, e.g. ``kvm`` or ``docker``
#: otherwise (org.freedesktop.systemd1(5); src/core/dbus-manager.c returns "" for none).
VIRTUALIZATION_PROPERTY = "Virtualization"
GRAPHICAL_TARGET = "graphical.target"
GRAPHICAL_PROPERTY = "ActiveEnterTimestampMonotonic"

_USEC = 1_000_000
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class BootTiming:
    """What the manager's timestamps say about this boot; unknown parts are absent."""

    phases: tuple[Phase, ...] = ()
    total_seconds: float | None = None
    #: True when the timestamps describe a kernel boot (not a container or soft reboot).
    kernel_boot: bool = False


def parse_show(text: str, problems: Problems) -> dict[str, int | None]:
    """``Key=µs`` lines to a dict; a value that is not a whole number is skipped and
    kept as ``None``, so that what depends on it is unknown rather than computed without it.
    """
    values: dict[str, int | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, raw = line.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            problems.skip(SOURCE, f"not a property line: {line[:80]!r}")
            continue
        if key == VIRTUALIZATION_PROPERTY:  # text, read by ``virtualization``
            continue
        if not _DIGITS.fullmatch(raw):
            problems.skip(SOURCE, f"{key} is not a whole number of µs: {raw[:40]!r}")
            values[key] = None
            continue
        values[key] = int(raw)
    return values


def boot_timing(
    manager: Mapping[str, int | None], graphical_enter_us: int | None, problems: Problems
) -> BootTiming:
    """Phases as ``systemd-analyze time`` prints them, plus ``login_screen``.

    firmware = Firmware - Loader, loader = Loader, kernel = InitRD (or Userspace without
    an initrd), initrd = Userspace - InitRD, userspace = Finish - Userspace; total is
    their sum (= Firmware + Finish). ``login_screen`` = graphical.target reached,
    counted from kernel start. A zero timestamp means "did not happen"; a missing or
    unreadable one leaves what depends on it unknown.
    """
    unreadable = {name for name, value in manager.items() if value is None}

    def ts(name: str) -> int | None:
        return manager.get(name) or None

    firmware, loader = ts("FirmwareTimestampMonotonic"), ts("LoaderTimestampMonotonic")
    initrd, userspace = ts("InitRDTimestampMonotonic"), ts("UserspaceTimestampMonotonic")
    finish = ts("FinishTimestampMonotonic")
    if userspace is None:
        return BootTiming()
    kernel_boot = (
        "SoftRebootStartTimestampMonotonic" not in unreadable
        and ts("SoftRebootStartTimestampMonotonic") is None
        and ts("SecurityStartTimestampMonotonic") is not None
    )

    spans: list[tuple[str, int]] = []
    if kernel_boot:
        if firmware is not None and "LoaderTimestampMonotonic" not in unreadable:
            spans.append(("firmware", firmware - (loader or 0)))
        if loader is not None:
            spans.append(("loader", loader))
        if "InitRDTimestampMonotonic" not in unreadable:
            spans.append(("kernel", initrd if initrd is not None else userspace))
        if initrd is not None:
            spans.append(("initrd", userspace - initrd))
    # In a container or after a soft reboot only this part belongs to the current start.
    if finish is not None:
        spans.append(("userspace", finish - userspace))

    if any(us < 0 for _, us in spans):
        # Out-of-order timestamps cannot be measured; report unknown rather than a guess.
        problems.skip(SOURCE, f"manager timestamps out of order: {dict(manager)}")
        return BootTiming(kernel_boot=kernel_boot)

    complete = kernel_boot and finish is not None and not unreadable & set(MANAGER_PROPERTIES)
    total = sum(us for _, us in spans) / _USEC if complete else None
    phases = [Phase(name, us / _USEC) for name, us in spans]
    if kernel_boot and graphical_enter_us:
        phases.append(Phase("login_screen", graphical_enter_us / _USEC))
    return BootTiming(phases=tuple(phases), total_seconds=total, kernel_boot=kernel_boot)


def virtualization(text: str) -> str | None:
    """The ``Virtualization`` line of ``systemctl show`` output: ``""`` on bare metal, the
    technology's id in a VM or container, ``None`` when the line is absent (unknown)."""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == VIRTUALIZATION_PROPERTY:
            return value.strip()
    return None


def parse_utc_timestamp(value: str) -> float | None:
    """A ``--timestamp=us+utc`` value (``Thu 2024-05-02 07:14:03.123456 UTC``) as Unix
    seconds; None when empty, ``n/a`` or not in that form."""
    parts = value.split()
    if len(parts) != 4 or parts[3] != "UTC":
        return None
    try:
        when = datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC).timestamp()
