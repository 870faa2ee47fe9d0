"""Windows backend: event logs via ``wevtutil``, registry via ``reg``, the foreground
window via user32. Parsing lives in ``windows_events``/``windows_boot``/``windows_signin``.

Which event feeds what (see those modules for the field-level detail):

- boot: Diagnostics-Performance 100-110, System/Kernel-Boot 27 and Kernel-General 12,
  the ``BootId`` boot counter in the registry; psutil's boot time only as a last resort;
- sign-ins: Security 4624/4634/4647/4688/4689, User Profile Service 1/2,
  GroupPolicy 4001/8001/4016/5016/4018/5018, Shell-Core 9705/62170/62171;
- session ends: Security 4647/4634/4779, TerminalServices-LocalSessionManager 23/24;
- ``first_login``: the profile folder (ProfileList ``ProfileImagePath``) was created
  during this sign-in;
- ``after_update``: Diagnostics-Performance 100 ``BootIsRebootAfterInstall`` for this
  boot, or a WindowsUpdateClient 19 ("installation successful") of a KB update between the
  previous boot (Kernel-General 12) and this one;
- crashes: Application log, Application Error 1000 ``AppName``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import windows_boot, windows_hardware
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.platform.smbios import system_string
from fleetpulse.agent.platform.windows_events import (
    WinEvent,
    format_time,
    parse_events,
    parse_int,
    parse_time,
)
from fleetpulse.agent.platform.windows_session_end import SESSION_MANAGER_ENDS
from fleetpulse.agent.platform.windows_signin import (
    INTERACTIVE_LOGON_TYPES,
    SigninSources,
    image_name,
    interactive_logons,
    observe,
)
from fleetpulse.contract.records import BootRecord, Crash, SigninObservation

log = logging.getLogger("fleetpulse.agent.platform.windows")

LOG_DIAGNOSTICS = "Microsoft-Windows-Diagnostics-Performance/Operational"
LOG_SYSTEM = "System"
LOG_SECURITY = "Security"
LOG_PROFILE = "Microsoft-Windows-User Profile Service/Operational"
LOG_GROUP_POLICY = "Microsoft-Windows-GroupPolicy/Operational"
LOG_SHELL = "Microsoft-Windows-Shell-Core/Operational"
LOG_SESSION_MANAGER = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
LOG_APPLICATION = "Application"

REG_CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
REG_CRYPTOGRAPHY = r"HKLM\SOFTWARE\Microsoft\Cryptography"
REG_HARDWARE_CONFIG = r"HKLM\SYSTEM\HardwareConfig"
REG_PROFILE_LIST = REG_CURRENT_VERSION + r"\ProfileList"
REG_PREFETCH = (
    r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management"
    r"\PrefetchParameters"
)

# Pre-filter only: windows_signin.is_desktop_logon decides what a sign-in is.
_INTERACTIVE = " or ".join(
    f"Data[@Name='LogonType']='{t}'" for t in sorted(INTERACTIVE_LOGON_TYPES)
)
_SID = re.compile(r"^S-1-\d+(-\d+)+$")
_KB = re.compile(r"\bKB\d{6,8}\b", re.IGNORECASE)
#: Updates that install without a restart, many times a day (Defender definitions).
_NO_RESTART_KBS = frozenset({"KB2267602", "KB2461484", "KB4052623"})
_REG_LINE = re.compile(r"^\s+(.+?)\s+(REG_[A-Z_]+)\s*(.*)$")
#: GroupPolicy events of a sign-in: policy run (4001/8001), script runs (4018/5018), each
#: extension (4016 and its end 5016/6016/7016) and each script (4019/5019).
GROUP_POLICY_IDS = (4001, 8001, 4018, 5018, 4016, 5016, 6016, 7016, 4019, 5019)
#: Shell-Core events: Run keys (9705), each Run-key command (9707/9708), Active Setup.
SHELL_IDS = (9705, 9707, 9708, 62170, 62171)
#: LocalSessionManager events that end a session: logoff (23), disconnect (24).
SESSION_MANAGER_IDS = tuple(SESSION_MANAGER_ENDS)
#: A profile folder created this long before the 4624 still belongs to this sign-in.
FIRST_LOGIN_SLACK = 5.0


def _query(env: Env, log_name: str, xpath: str, count: int, source: str) -> list[WinEvent]:
    argv = ["wevtutil", "qe", log_name, f"/q:{xpath}", "/f:xml", "/rd:true", f"/c:{count}"]
    try:
        text = env.run(argv)
    except (SourceUnavailable, OSError) as exc:
        log.debug("%s unavailable: %s", log_name, exc)
        return []
    return parse_events(text, source, env.problems)


def _since(epoch: float) -> str:
    return f"TimeCreated[@SystemTime>='{format_time(epoch)}']"


# -- boot ------------------------------------------------------------------------------


def _kernel_events(env: Env) -> list[WinEvent]:
    """The newest Kernel-Boot 27 and Kernel-General 12 events (one of each per start)."""
    xpath = (
        "*[System[(Provider[@Name='Microsoft-Windows-Kernel-Boot'] and EventID=27)"
        " or (Provider[@Name='Microsoft-Windows-Kernel-General'] and EventID=12)]]"
    )
    return _query(env, LOG_SYSTEM, xpath, 10, "windows.system")


def boot_counter(env: Env) -> int | None:
    """``BootId`` from ``REG_PREFETCH`` (a REG_DWORD ``reg query`` prints as ``0x..``),
    or ``None`` when the value is missing or unreadable."""
    return parse_int(_reg(env, REG_PREFETCH, "BootId").get("BootId"))


def _diagnostics(env: Env, boot_time: float) -> list[WinEvent]:
    since = boot_time - windows_boot.SAME_BOOT_WINDOW
    xpath = f"*[System[EventID>=100 and EventID<=110 and {_since(since)}]]"
    return _query(env, LOG_DIAGNOSTICS, xpath, 200, "windows.diagnostics_performance")


def boot_record(env: Env) -> BootRecord:
    """This boot; its id and time come from facts Windows fixes once per boot (see
    ``windows_boot``), psutil's drifting uptime origin only when the log has neither."""
    kernel = _kernel_events(env)
    boot_type_event = windows_boot.latest_boot_type_event(kernel)
    kernel_start = windows_boot.kernel_start_time(kernel)
    origin = kernel_start if kernel_start is not None else float(env.ps.boot_time())
    boot_time = windows_boot.current_boot_time(origin, boot_type_event)
    kind = windows_boot.boot_type(boot_time, boot_type_event, env.problems)
    boot_id = windows_boot.boot_identity(boot_counter(env), kernel_start, boot_type_event)
    if boot_id is None:
        # Registry and System log both unreadable: nothing fixed is left to name the boot.
        log.debug("no boot counter and no Kernel-General 12; boot id from psutil")
        boot_id = f"boot-{int(boot_time)}"
    return windows_boot.boot_record(
        boot_id, boot_time, kind, _diagnostics(env, boot_time), env.problems
    )


# -- sign-ins --------------------------------------------------------------------------


def _security(env: Env, since: float) -> list[WinEvent]:
    root = os.environ.get("SYSTEMROOT", r"C:\Windows")
    images = (
        rf"{root}\System32\mpnotify.exe",
        rf"{root}\System32\userinit.exe",
        rf"{root}\explorer.exe",
    )
    processes = (
        " or ".join(f"Data[@Name='NewProcessName']='{p}'" for p in images)
        + f" or Data[@Name='ProcessName']='{images[0]}'"
    )
    xpath = (
        f"*[System[{_since(since)}] and ("
        "System[EventID=4647 or EventID=4779]"
        f" or (System[EventID=4624 or EventID=4634] and EventData[{_INTERACTIVE}])"
        f" or (System[EventID=4688 or EventID=4689] and EventData[{processes}])"
        ")]"
    )
    return _query(env, LOG_SECURITY, xpath, 1000, "windows.security")


def _by_ids(
    env: Env, log_name: str, ids: Sequence[int], since: float, source: str
) -> list[WinEvent]:
    wanted = " or ".join(f"EventID={i}" for i in ids)
    return _query(env, log_name, f"*[System[({wanted}) and {_since(since)}]]", 500, source)


def signin_observations(env: Env, boot_time: float) -> list[SigninObservation]:
    security = _security(env, boot_time)
    logons = interactive_logons(security, boot_time, env.problems)
    if not logons:
        return []
    sources = SigninSources(
        security=security,
        profile=_by_ids(env, LOG_PROFILE, (1, 2, 67), boot_time, "windows.user_profile"),
        group_policy=_by_ids(
            env, LOG_GROUP_POLICY, GROUP_POLICY_IDS, boot_time, "windows.group_policy"
        ),
        shell=_by_ids(env, LOG_SHELL, SHELL_IDS, boot_time, "windows.shell_core"),
        session_manager=_by_ids(
            env, LOG_SESSION_MANAGER, SESSION_MANAGER_IDS, boot_time, "windows.session_manager"
        ),
    )
    updated = _after_update(env, boot_time)
    return [
        observe(
            logon,
            logons,
            sources,
            env.problems,
            first_login=_first_login(env.run, logon.sid, logon.started_at),
            after_update=updated,
        )
        for logon in logons
    ]


def _after_update(env: Env, boot_time: float) -> bool | None:
    flagged = windows_boot.reboot_after_install(boot_time, _diagnostics(env, boot_time))
    starts = _query(
        env,
        LOG_SYSTEM,
        "*[System[Provider[@Name='Microsoft-Windows-Kernel-General'] and EventID=12]]",
        10,
        "windows.system",
    )
    earlier = [e.time for e in starts if e.time < boot_time - windows_boot.SAME_BOOT_WINDOW]
    if not earlier:
        return flagged  # without the previous boot there is no window to look in
    previous = max(earlier)
    updates = _query(
        env,
        LOG_SYSTEM,
        "*[System[Provider[@Name='Microsoft-Windows-WindowsUpdateClient'] and EventID=19"
        f" and {_since(previous)}]]",
        500,
        "windows.system",
    )
    installed = any(previous <= e.time < boot_time and _needs_restart(e) for e in updates)
    return bool(installed or flagged)


def _needs_restart(event: WinEvent) -> bool:
    # Store apps and Defender definitions also log 19 but never cause a reboot.
    kbs = {kb.upper() for kb in _KB.findall(event.get("updateTitle") or "")}
    return bool(kbs - _NO_RESTART_KBS)


@functools.lru_cache(maxsize=64)
def _first_login(run: Callable[[Sequence[str]], str], sid: str, started_at: float) -> bool | None:
    """Was the user's profile folder created by this sign-in? Cached per sign-in: the
    answer cannot change and PowerShell is too costly to start on every poll."""
    if not _SID.match(sid):
        return None
    try:
        path = reg_values(
            run(["reg", "query", rf"{REG_PROFILE_LIST}\{sid}", "/v", "ProfileImagePath"])
        ).get("ProfileImagePath")
        if not path:
            return None
        literal = path.replace("'", "''")
        created = parse_time(
            run(
                [
                    "powershell",
                    "-NoProfile",
                    "-NonInteractive",
                    "-Command",
                    "(Get-Item -Force -LiteralPath ([Environment]::ExpandEnvironmentVariables("
                    f"'{literal}'))).CreationTimeUtc.ToString('o')",
                ]
            ).strip()
        )
    except (SourceUnavailable, OSError) as exc:
        log.debug("profile creation time of %s unavailable: %s", sid, exc)
        return None
    return None if created is None else created >= started_at - FIRST_LOGIN_SLACK


# -- crashes and the foreground app ----------------------------------------------------


def crashes(env: Env, since: float) -> list[Crash]:
    xpath = f"*[System[Provider[@Name='Application Error'] and EventID=1000 and {_since(since)}]]"
    out = []
    for event in _query(env, LOG_APPLICATION, xpath, 500, "windows.application"):
        if event.event_id != 1000 or event.provider != "Application Error" or event.time < since:
            continue
        # Older builds write the fields unnamed; the faulting application is the first.
        raw = event.get("AppName") or (event.positional[0] if event.positional else "")
        app = image_name(raw)
        if not app:
            env.problems.skip("windows.application", "Application Error 1000 without AppName")
            continue
        out.append(Crash(app=app, at=event.time))
    out.sort(key=lambda c: c.at)
    return out


def foreground_app(env: Env) -> str | None:
    """The file name of the executable owning the foreground window (``code.exe``), None
    when there is none or its process is gone or protected. Sees only the caller's session:
    the service (session 0) never has one, the per-user helper (``helper.py``) does."""
    if sys.platform != "win32":
        return None
    pid = _foreground_pid()
    if not pid:
        return None
    try:
        name = str(env.ps.Process(pid).name())
    except Exception:  # psutil.Error and friends: the process is gone or protected
        return None
    return image_name(name) or None


def _foreground_pid() -> int:
    """GetForegroundWindow: the window the user works in, NULL while the desktop is
    switched (locked screen, UAC prompt) or from session 0; GetWindowThreadProcessId: the
    process that created it (Microsoft Learn, winuser.h). The window title is never read."""
    if sys.platform != "win32":
        return 0
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.windll.user32
    hwnd = user32.GetForegroundWindow()
    if not hwnd:
        return 0
    pid = wintypes.DWORD()
    user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
    return int(pid.value)


def session_id() -> int | None:
    """This process's Remote Desktop Services session (ProcessIdToSessionId, Microsoft
    Learn, processthreadsapi.h): 0 for services, 1 and up for users; None if it fails."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.windll.kernel32
    sid = wintypes.DWORD()
    if not kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.byref(sid)):
        return None
    return int(sid.value)


# -- facts -----------------------------------------------------------------------------


def reg_values(text: str) -> dict[str, str]:
    """``reg query`` output → {value name: data}."""
    values = {}
    for line in text.splitlines():
        m = _REG_LINE.match(line)
        if m:
            values[m.group(1)] = m.group(3).strip()
    return values


def _reg(env: Env, key: str, value: str | None = None) -> dict[str, str]:
    argv = ["reg", "query", key] + (["/v", value] if value else [])
    try:
        return reg_values(env.run(argv))
    except (SourceUnavailable, OSError):
        return {}


def os_version(values: dict[str, str]) -> str:
    if "ProductName" not in values:
        return ""
    product = values["ProductName"]
    build = parse_int(values.get("CurrentBuildNumber") or values.get("CurrentBuild"))
    if build is not None and build >= 22000:
        # Windows 11 still says "Windows 10" in ProductName; the build tells them apart.
        product = product.replace("Windows 10", "Windows 11")
    parts = [product]
    if values.get("DisplayVersion"):
        parts.append(values["DisplayVersion"])
    if build is not None:
        ubr = parse_int(values.get("UBR"))
        parts.append(f"(build {build}.{ubr})" if ubr is not None else f"(build {build})")
    return " ".join(parts)


def _form_factor() -> str:
    if sys.platform != "win32":
        return ""
    import ctypes

    try:
        role = int(ctypes.windll.powrprof.PowerDeterminePlatformRoleEx(2))
    except (OSError, AttributeError):
        return ""
    # POWER_PLATFORM_ROLE: 1 desktop, 2 mobile, 3 workstation, 6 appliance PC, 8 slate.
    return {1: "desktop", 2: "laptop", 3: "desktop", 6: "desktop", 8: "tablet"}.get(role, "")


def os_facts(env: Env) -> dict[str, str]:
    machine = _reg(env, REG_CRYPTOGRAPHY, "MachineGuid").get("MachineGuid", "")
    # LastConfig is the SMBIOS system UUID: it survives re-imaging, a cloned
    # MachineGuid does not change it.
    hardware = _reg(env, REG_HARDWARE_CONFIG, "LastConfig").get("LastConfig", "")
    bios = _reg(env, windows_hardware.REG_BIOS)
    return {
        "os": "windows",
        "os_version": os_version(_reg(env, REG_CURRENT_VERSION)),
        "machine_id": machine.strip().lower(),
        "hardware_id": hardware.strip().strip("{}").lower(),
        "form_factor": _form_factor(),
        "manufacturer": system_string(bios.get("SystemManufacturer", "")),
        "model": system_string(bios.get("SystemProductName", "")),
        "system_disk": _system_disk(env),
    }


def _system_disk(env: Env) -> str:
    try:
        output = env.run(windows_hardware.PHYSICAL_DISK)
    except (SourceUnavailable, OSError) as exc:
        log.debug("system disk media unavailable: %s", exc)
        return ""
    return windows_hardware.system_disk(output, env.problems)
