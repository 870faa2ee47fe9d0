"""Every plausibility rule for measured times and durations, in one place.

A value that breaks a rule is not evidence: it becomes unknown (``None`` or left out),
is counted in ``Env.problems`` under ``plausibility`` with its reason (once per value,
however often it is measured again), and so never reaches a histogram or the report.
Sound values of the same record still count. docs/measurement.md explains each bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fleetpulse.contract.records import BootRecord, Phase, SigninObservation

if TYPE_CHECKING:  # the platform package imports this module: no import cycle at run time
    from fleetpulse.agent.platform.env import Problems

SOURCE = "plausibility"

#: Clock slack for "in the future": Kerberos' default maximum tolerance for computer
#: clock synchronization is 5 minutes (Microsoft Learn, "Maximum tolerance for computer
#: clock synchronization"); a clock further off than that is wrong, not early.
CLOCK_SLACK_SECONDS = 300.0
#: Firmware (POST + UEFI) ceiling. Endpoints spend seconds here; the slowest real
#: firmware (server memory training, RAID option ROMs) stays within a few minutes, while
#: the published bogus values are 9 to 33 minutes (systemd issues #8422, #20653, #22060).
FIRMWARE_CEILING_SECONDS = 300.0
#: Boot loader ceiling. Beyond it the loader was waiting for a person (a menu without
#: timeout, a pre-boot password), which is not the machine's boot time.
LOADER_CEILING_SECONDS = 300.0

#: Phases before the kernel started, measured by firmware or loader clocks (Linux: the
#: EFI/ACPI FPDT timestamps systemd reads). Untrusted on virtual machines: systemd-boot
#: derives them from the TSC, which a VM does not reset at power-on (systemd #22060, fixed
#: by discarding them in VMs in systemd PR #22063 and sd-boot commit 3bcc999); systemd
#: never reads them in a container (src/core/manager.c: ``detect_container() <= 0``).
PRE_KERNEL_PHASES = {"firmware": FIRMWARE_CEILING_SECONDS, "loader": LOADER_CEILING_SECONDS}
#: Phases that start at or after the kernel started, so they cannot exceed the uptime.
POST_KERNEL_PHASES = frozenset(
    {
        "kernel", "initrd", "userspace", "login_screen",  # Linux, from kernel start
        "post_boot", "kernel_init", "driver_init", "devices_init",  # Windows event 100
        "user_profile", "machine_profile", "explorer_init",
    }
)  # fmt: skip
#: The phases a boot total is the sum of (Linux systemd: firmware + loader + kernel +
#: initrd + userspace; Windows event 100: BootTime = MainPathBootTime + BootPostBootTime).
#: When one of them is unknown, the total is unknown: a sum of the remaining parts would
#: be a different quantity under the same name. Sub-phases (``login_screen``, the Windows
#: breakdown of the main path) are not parts: losing one leaves the total as it is.
BOOT_TOTAL_PARTS = frozenset(
    {"firmware", "loader", "kernel", "initrd", "userspace", "main_path", "post_boot"}
)


@dataclass(frozen=True, slots=True)
class BootContext:
    """What the rules need to know about the machine, each ``None`` when unknown.

    ``virtualization`` is systemd's manager property ``Virtualization``: ``""`` on bare
    metal, an id such as ``kvm``, ``microsoft`` or ``docker`` otherwise (org.freedesktop.
    systemd1(5)); ``previous_boot_time`` is the Unix time of the boot before this one.
    """

    now: float
    virtualization: str | None = None
    previous_boot_time: float | None = None


def _flag(problems: Problems, what: str, reason: str) -> None:
    problems.once(SOURCE, f"{what}: {reason}")


def _duration_fault(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return "not a number"
    if seconds < 0:
        return f"negative ({seconds:.3f} s)"
    return None


def _boot_phase_fault(phase: Phase, boot: BootRecord, ctx: BootContext) -> str | None:
    fault = _duration_fault(phase.seconds)
    if fault is not None:
        return fault
    ceiling = PRE_KERNEL_PHASES.get(phase.name)
    if ceiling is not None:
        if ctx.virtualization:
            return f"{phase.seconds:.3f} s measured on a virtual machine ({ctx.virtualization})"
        if phase.seconds > ceiling:
            return f"{phase.seconds:.3f} s is beyond the {ceiling:.0f} s ceiling"
        if (
            ctx.previous_boot_time is not None
            and phase.seconds > boot.boot_time - ctx.previous_boot_time
        ):
            return f"{phase.seconds:.3f} s is longer than the time since the previous boot"
    uptime = ctx.now - boot.boot_time
    if phase.name in POST_KERNEL_PHASES and phase.seconds > uptime + CLOCK_SLACK_SECONDS:
        return f"{phase.seconds:.3f} s is longer than the uptime ({uptime:.0f} s)"
    return None


def judge_boot(boot: BootRecord, ctx: BootContext, problems: Problems) -> BootRecord | None:
    """The boot with every implausible phase left out and its total unknown when the
    total or one of its parts is implausible; ``None`` when the boot's own start time is
    in the future (the record cannot be placed in time)."""
    what = f"boot {boot.boot_id}"
    ahead = boot.boot_time - ctx.now
    if not math.isfinite(boot.boot_time) or ahead > CLOCK_SLACK_SECONDS:
        _flag(problems, what, f"starts {ahead:.0f} s in the future")
        return None
    phases: list[Phase] = []
    lost_part: str | None = None
    for phase in boot.phases:
        fault = _boot_phase_fault(phase, boot, ctx)
        if fault is None:
            phases.append(phase)
            continue
        _flag(problems, f"{what} phase {phase.name}", fault)
        if phase.name in BOOT_TOTAL_PARTS and lost_part is None:
            lost_part = phase.name
    total = boot.total_seconds
    if total is not None:
        fault = _duration_fault(total)
        if fault is None and lost_part is not None:
            fault = f"its part {lost_part} is unknown"
        if fault is None and ctx.previous_boot_time is not None:
            since = ctx.now - ctx.previous_boot_time
            if total > since:
                fault = f"{total:.3f} s is longer than the time since the previous boot"
        if fault is not None:
            _flag(problems, f"{what} total", fault)
            total = None
    if total == boot.total_seconds and len(phases) == len(boot.phases):
        return boot
    return replace(boot, phases=tuple(phases), total_seconds=total)


def _instant_fault(at: float, not_before: float, now: float, before_what: str) -> str | None:
    if not math.isfinite(at):
        return "not a time"
    if at - now > CLOCK_SLACK_SECONDS:
        return f"{at - now:.0f} s in the future"
    if at < not_before:
        return f"{not_before - at:.3f} s before {before_what}"
    return None


def judge_signin(
    obs: SigninObservation, boot_time: float, now: float, problems: Problems
) -> SigninObservation | None:
    """The sign-in with implausible instants and phases made unknown; ``None`` when its
    start is in the future or before this boot (it cannot be this boot's sign-in).

    The shell cannot start before the sign-in, the desktop cannot be ready before the
    shell (or the sign-in), the session cannot end before the sign-in, nothing is later
    than now (plus the clock slack), and no phase is negative or longer than the time since
    the sign-in started.
    """
    what = f"sign-in {obs.session_id}"
    fault = _instant_fault(obs.started_at, boot_time - CLOCK_SLACK_SECONDS, now, "the boot")
    if fault is not None:
        _flag(problems, f"{what} start", fault)
        return None
    shell = obs.shell_started_at
    if shell is not None and (f := _instant_fault(shell, obs.started_at, now, "the sign-in")):
        _flag(problems, f"{what} shell start", f)
        shell = None
    ready = obs.desktop_ready_at
    after = shell if shell is not None else obs.started_at
    if ready is not None and (f := _instant_fault(ready, after, now, "the shell or sign-in")):
        _flag(problems, f"{what} desktop ready", f)
        ready = None
    ended_at = obs.ended_at
    if ended_at is not None and (f := _instant_fault(ended_at, obs.started_at, now, "the sign-in")):
        _flag(problems, f"{what} end", f)
        ended_at = None
    since_start = now - obs.started_at + CLOCK_SLACK_SECONDS
    phases: list[Phase] = []
    for phase in obs.phases:
        fault = _duration_fault(phase.seconds)
        if fault is None and phase.seconds > since_start:
            fault = f"{phase.seconds:.3f} s is longer than the time since the sign-in started"
        if fault is not None:
            _flag(problems, f"{what} phase {phase.name}", fault)
            continue
        phases.append(phase)
    judged = (shell, ready, ended_at, len(phases))
    if judged == (obs.shell_started_at, obs.desktop_ready_at, obs.ended_at, len(obs.phases)):
        return obs
    return replace(
        obs,
        shell_started_at=shell,
        desktop_ready_at=ready,
        ended_at=ended_at,
        end_reason=obs.end_reason if ended_at is not None else None,
        phases=tuple(phases),
    )
