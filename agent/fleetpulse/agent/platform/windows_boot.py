r"""Windows boot measurement from parsed events (pure: no OS calls).

Sources, all read by field name:

- ``Microsoft-Windows-Diagnostics-Performance/Operational`` event 100: durations in ms,
  ``BootStartTime`` (FILETIME) identifies the boot it describes. It is written minutes
  after the boot, so until it exists the duration is unknown (``None``), never 0.
- Events 101-110 of the same log: what slowed that boot, joined on ``StartTime`` equal to
  event 100's ``BootStartTime``.
- ``System`` log, ``Microsoft-Windows-Kernel-Boot`` event 27 ``BootType``: 0 cold boot,
  1 hybrid boot (Fast Startup), 2 resume from hibernation. Written at every start.
- ``System`` log, ``Microsoft-Windows-Kernel-General`` event 12 ``StartTime``: when the
  kernel started ("The operating system started at system time ...").

What identifies a boot (``boot_identity``): the boot counter ``BootId`` (REG_DWORD in
``HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management\
PrefetchParameters``, the registry copy of ``KUSER_SHARED_DATA.BootId`` declared in
ntddk.h), which Windows raises by one at every boot and which no clock can move. Without
it, the ``StartTime`` of the newest Kernel-General 12: written once per kernel start, so
neither ±1 s jitter, sleep nor a clock step changes it. A hybrid boot or a resume from
hibernation carries on the hibernated kernel, so the identity also names that start: the
time of its Kernel-Boot 27 (fixed in the log once written). ``psutil.boot_time()`` is
"now minus uptime": it moves by up to a second between calls, by every clock step, and
before psutil 7.1.0 by the length of every sleep, so it identifies nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.windows_events import WinEvent, parse_bool, parse_int, parse_time
from fleetpulse.contract.records import BootRecord, BootType, Culprit, Phase

DIAG_PROVIDER = "Microsoft-Windows-Diagnostics-Performance"
KERNEL_BOOT_PROVIDER = "Microsoft-Windows-Kernel-Boot"
KERNEL_GENERAL_PROVIDER = "Microsoft-Windows-Kernel-General"
BOOT_DONE = 100
BOOT_TYPE_EVENT = 27
KERNEL_START_EVENT = 12
#: Kernel-Boot 27 BootType values of a start that resumed a hibernated kernel.
RESUMED_BOOT_TYPES = frozenset({1, 2})

#: Event 100 field → phase name (agent/phases.py BOOT_PHASES).
BOOT_PHASE_FIELDS = (
    ("main_path", "MainPathBootTime"),
    ("post_boot", "BootPostBootTime"),
    ("kernel_init", "BootKernelInitTime"),
    ("driver_init", "BootDriverInitTime"),
    ("devices_init", "BootDevicesInitTime"),
    ("user_profile", "BootUserProfileProcessingTime"),
    ("machine_profile", "BootMachineProfileProcessingTime"),
    ("explorer_init", "BootExplorerInitTime"),
)

#: What each degradation event names (event message texts of the provider's manifest).
CULPRIT_KINDS = {
    101: "application",
    102: "driver",
    103: "service",
    104: "core_component",
    105: "foreground_prefetch",
    106: "background_prefetch",
    107: "machine_policy",
    108: "user_policy",
    109: "device",
    110: "session_manager",
}

_BOOT_TYPES = {0: BootType.COLD, 1: BootType.FAST_STARTUP, 2: BootType.RESUME}

#: A Kernel-Boot 27 this long after the kernel's uptime origin means the kernel was not
#: started afresh: Fast Startup / hibernation resume keep the uptime counter running.
RESUMED_KERNEL_GAP = 300.0
#: How far event 100's BootStartTime may sit from the boot time we know and still be
#: this boot (firmware/loader run before the kernel; the 27 event is logged after it).
SAME_BOOT_WINDOW = 120.0
#: Join tolerance for FILETIME values rendered with different precision.
_JOIN_EPSILON = 0.001


def latest_boot_type_event(system_events: Iterable[WinEvent]) -> WinEvent | None:
    candidates = [
        e
        for e in system_events
        if e.event_id == BOOT_TYPE_EVENT and e.provider == KERNEL_BOOT_PROVIDER
    ]
    return max(candidates, key=lambda e: e.time, default=None)


def kernel_start_time(system_events: Iterable[WinEvent]) -> float | None:
    """``StartTime`` of the newest Kernel-General 12 (epoch seconds; its ``TimeCreated``
    if the field is missing), or ``None`` when the System log holds none."""
    starts = [
        e
        for e in system_events
        if e.event_id == KERNEL_START_EVENT and e.provider == KERNEL_GENERAL_PROVIDER
    ]
    newest = max(starts, key=lambda e: e.time, default=None)
    if newest is None:
        return None
    started = parse_time(newest.get("StartTime"))
    return newest.time if started is None else started


def boot_identity(
    counter: int | None, kernel_start: float | None, boot_type_event: WinEvent | None
) -> str | None:
    """This boot's id: ``win-boot-<BootId>`` or, without the counter,
    ``win-start-<kernel start, whole seconds>``; after a hybrid boot or a resume from
    hibernation ``-resume-<Kernel-Boot 27 time, whole seconds>`` is appended. Every part
    is fixed for the whole boot; ``None`` when neither the counter nor a kernel start is
    known."""
    if counter is not None:
        base = f"win-boot-{counter}"
    elif kernel_start is not None:
        base = f"win-start-{int(kernel_start)}"
    else:
        return None
    kind = None if boot_type_event is None else parse_int(boot_type_event.get("BootType"))
    if boot_type_event is not None and kind in RESUMED_BOOT_TYPES:
        base += f"-resume-{int(boot_type_event.time)}"
    return base


def current_boot_time(kernel_uptime_origin: float, boot_type_event: WinEvent | None) -> float:
    """When this boot started.

    The kernel's start (Kernel-General 12, else psutil) is right for a cold boot. After a
    hybrid boot or a resume from hibernation it is the last *cold* boot, days ago; then the
    Kernel-Boot 27 event of the resume, logged seconds after it began, is the best start.
    """
    if boot_type_event is not None:
        kind = parse_int(boot_type_event.get("BootType"))
        resumed = boot_type_event.time - kernel_uptime_origin > RESUMED_KERNEL_GAP
        if kind in (1, 2) and resumed:
            return boot_type_event.time
    return kernel_uptime_origin


def boot_type(boot_time: float, boot_type_event: WinEvent | None, problems: Problems) -> BootType:
    if boot_type_event is None or boot_type_event.time < boot_time - SAME_BOOT_WINDOW:
        return BootType.UNKNOWN
    value = parse_int(boot_type_event.get("BootType"))
    if value is None:
        problems.skip("windows.kernel_boot", "event 27 without a numeric BootType")
        return BootType.UNKNOWN
    return _BOOT_TYPES.get(value, BootType.UNKNOWN)


def boot_done_event(
    boot_time: float, diag_events: Iterable[WinEvent], problems: Problems | None
) -> tuple[WinEvent, float] | None:
    """This boot's event 100 and its BootStartTime, or ``None`` if not written yet.
    Malformed events are reported to ``problems`` when given (once per reading)."""
    best: tuple[WinEvent, float] | None = None
    for event in diag_events:
        if event.event_id != BOOT_DONE:
            continue
        started = parse_time(event.get("BootStartTime"))
        if started is None:
            if problems is not None:
                problems.skip("windows.diagnostics_performance", "event 100 without BootStartTime")
            continue
        if abs(started - boot_time) > SAME_BOOT_WINDOW:
            continue  # an earlier boot's record
        if best is None or abs(started - boot_time) < abs(best[1] - boot_time):
            best = (event, started)
    return best


def _ms(event: WinEvent, name: str) -> float | None:
    value = parse_int(event.get(name))
    return None if value is None else value / 1000.0


def boot_phases(event: WinEvent) -> tuple[Phase, ...]:
    phases = []
    for phase, field_name in BOOT_PHASE_FIELDS:
        seconds = _ms(event, field_name)
        if seconds is not None:
            phases.append(Phase(phase, seconds))
    return tuple(phases)


def boot_total(event: WinEvent) -> float | None:
    total = _ms(event, "BootTime")
    if total is not None:
        return total
    # BootTime is documented as MainPathBootTime + BootPostBootTime.
    main, post = _ms(event, "MainPathBootTime"), _ms(event, "BootPostBootTime")
    return None if main is None or post is None else main + post


def culprits(
    boot_start: float, diag_events: Iterable[WinEvent], problems: Problems
) -> tuple[Culprit, ...]:
    found = []
    for event in diag_events:
        kind = CULPRIT_KINDS.get(event.event_id)
        if kind is None:
            continue
        started = parse_time(event.get("StartTime"))
        if started is None or abs(started - boot_start) > _JOIN_EPSILON:
            continue
        name = event.get("FriendlyName") or event.get("Name") or ""
        seconds = _ms(event, "DegradationTime")
        if seconds is None:
            seconds = _ms(event, "TotalTime")
        if not name or seconds is None:
            problems.skip(
                "windows.diagnostics_performance",
                f"event {event.event_id} without a name or a time",
            )
            continue
        found.append(Culprit(name=name, kind=kind, seconds=seconds))
    found.sort(key=lambda c: (-c.seconds, c.name))
    return tuple(found)


def boot_record(
    boot_id: str,
    boot_time: float,
    boot_kind: BootType,
    diag_events: list[WinEvent],
    problems: Problems,
) -> BootRecord:
    done = boot_done_event(boot_time, diag_events, problems)
    if done is None:
        return BootRecord(boot_id=boot_id, boot_time=boot_time, boot_type=boot_kind)
    event, boot_start = done
    return BootRecord(
        boot_id=boot_id,
        boot_time=boot_time,
        total_seconds=boot_total(event),
        phases=boot_phases(event),
        boot_type=boot_kind,
        degraded=parse_bool(event.get("BootIsDegradation")),
        culprits=culprits(boot_start, diag_events, problems),
    )


def reboot_after_install(boot_time: float, diag_events: list[WinEvent]) -> bool | None:
    """Event 100's ``BootIsRebootAfterInstall`` for this boot, if it has been written."""
    done = boot_done_event(boot_time, diag_events, None)  # boot_record reports problems
    return None if done is None else parse_bool(done[0].get("BootIsRebootAfterInstall"))
