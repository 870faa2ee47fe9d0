"""Linux backend: systemd for boot phases, logind (or wtmpdb / wtmp) for sign-ins, the
journal for crashes, xprop for the foreground window.

Every machine access goes through ``Env``; the parsing lives in the ``linux_*`` modules.
A source that is missing makes its values unknown; malformed input is skipped and counted.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import psutil

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.platform.linux_desktop import (
    Login,
    ReadyMarker,
    observations,
    parse_ready_marker,
)
from fleetpulse.agent.platform.linux_desktop import shell_starts as _shell_starts_from
from fleetpulse.agent.platform.linux_disk import system_disk
from fleetpulse.agent.platform.linux_facts import form_factor, parse_os_release
from fleetpulse.agent.platform.linux_journal import (
    COREDUMP_MESSAGE_ID,
    coredump_crashes,
    parse_entries,
)
from fleetpulse.agent.platform.linux_logind import (
    SESSION_START_ID,
    SESSION_STOP_ID,
    classify,
    logind_logins,
    parse_properties,
)
from fleetpulse.agent.platform.linux_systemd import (
    GRAPHICAL_PROPERTY,
    GRAPHICAL_TARGET,
    MANAGER_PROPERTIES,
    VIRTUALIZATION_PROPERTY,
    BootTiming,
    boot_timing,
    parse_show,
    parse_utc_timestamp,
    virtualization,
)
from fleetpulse.agent.platform.linux_wtmp import parse_wtmp, wtmp_logins, wtmpdb_logins
from fleetpulse.agent.platform.linux_x11 import (
    active_window,
    parse_environ,
    window_pid,
    x11_display,
)
from fleetpulse.agent.platform.smbios import system_string
from fleetpulse.agent.plausibility import BootContext, judge_boot
from fleetpulse.contract.records import BootRecord, BootType, Crash, SigninObservation

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
MACHINE_ID_PATH = "/etc/machine-id"
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
PRODUCT_UUID_PATH = "/sys/class/dmi/id/product_uuid"
CHASSIS_TYPE_PATH = "/sys/class/dmi/id/chassis_type"
# SMBIOS type 1 strings, world-readable (the serial-number files beside them are never read)
SYS_VENDOR_PATH = "/sys/class/dmi/id/sys_vendor"
PRODUCT_NAME_PATH = "/sys/class/dmi/id/product_name"
WTMPDB_PATH = "/var/lib/wtmpdb/wtmp.db"
WTMP_PATH = "/var/log/wtmp"
ENVIRON_PATH = "/proc/self/environ"

MANAGER_SHOW = (
    "systemctl", "show", "--property=" + ",".join((*MANAGER_PROPERTIES, VIRTUALIZATION_PROPERTY)),
)  # fmt: skip
GRAPHICAL_SHOW = ("systemctl", "show", GRAPHICAL_TARGET, f"--property={GRAPHICAL_PROPERTY}")
SESSIONS_JOURNAL = (
    "journalctl", "-q", "-o", "json", "-b",
    "--output-fields=MESSAGE_ID,SESSION_ID,USER_ID,TYPE,CLASS",
    f"MESSAGE_ID={SESSION_START_ID}", f"MESSAGE_ID={SESSION_STOP_ID}",
)  # fmt: skip
SHELL_ATTRS = ["name", "username", "create_time"]

# Session ids and user names become command arguments and file names: nothing that a
# command could read as an option or a path.
_SESSION_ID = re.compile(r"[A-Za-z0-9_]+")
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?")
_MACHINE_ID = re.compile(r"[0-9a-f]{32}")


def _read(env: Env, path: str) -> bytes | None:
    try:
        return env.read_bytes(path)
    except OSError:
        return None


def _run(env: Env, argv: Sequence[str]) -> str | None:
    try:
        return env.run(argv)
    except SourceUnavailable:
        return None


# --- boot ---------------------------------------------------------------------------


def _boot_id(env: Env, boot_time: float) -> str:
    raw = _read(env, BOOT_ID_PATH)
    boot_id = raw.decode("ascii", "replace").strip() if raw else ""
    return boot_id or f"boot-{int(boot_time)}"


def _boot_timing(env: Env) -> tuple[BootTiming, str | None]:
    """The manager's boot timing and its ``Virtualization`` (None when unknown)."""
    text = _run(env, MANAGER_SHOW)  # fails without systemd as PID 1, e.g. in a container
    if text is None:
        return BootTiming(), None
    manager = parse_show(text, env.problems)
    graphical: int | None = None
    if manager.get("UserspaceTimestampMonotonic"):
        shown = _run(env, GRAPHICAL_SHOW)
        if shown is not None:
            graphical = parse_show(shown, env.problems).get(GRAPHICAL_PROPERTY)
    return boot_timing(manager, graphical, env.problems), virtualization(text)


def boot_record(env: Env) -> BootRecord:
    """The current boot; firmware and loader times of a virtual machine are judged
    unknown here, where systemd's ``Virtualization`` is known (fleetpulse.agent.plausibility)."""
    boot_time = float(env.ps.boot_time())
    timing, virt = _boot_timing(env)
    boot = BootRecord(
        boot_id=_boot_id(env, boot_time),
        boot_time=boot_time,
        total_seconds=timing.total_seconds,
        phases=timing.phases,
        # A resume from hibernation keeps the hibernated boot's id, so a boot whose
        # kernel start systemd measured is a cold one.
        boot_type=BootType.COLD if timing.kernel_boot else BootType.UNKNOWN,
    )
    judged = judge_boot(boot, BootContext(now=env.clock(), virtualization=virt), env.problems)
    # A boot "in the future" is dropped by the boot source, which owns that decision.
    return judged if judged is not None else boot


# --- sign-ins -----------------------------------------------------------------------


def _logind_logins(env: Env, boot_time: float) -> list[Login]:
    text = _run(env, SESSIONS_JOURNAL)
    if text is None:
        return []
    logins = logind_logins(parse_entries(text, env.problems), env.problems)
    return [_decide_type(env, x) for x in logins if x.started_at >= boot_time]


def _decide_type(env: Env, login: Login) -> Login:
    """logind v249-v256 does not log a session's type or class; ask it while the session
    lasts (an ended session stays undecided: only a desktop shell or marker can decide)."""
    if login.graphical is not None or login.ended or not _SESSION_ID.fullmatch(login.session_id):
        return login
    shown = _run(
        env, ("loginctl", "show-session", login.session_id, "--property=Type", "--property=Class")
    )
    if shown is None:
        return login
    props = parse_properties(shown)
    return dataclasses.replace(login, graphical=classify(props.get("Type"), props.get("Class")))


def _accounting_logins(env: Env, boot_time: float) -> list[Login]:
    """wtmpdb where the system has it (it replaces wtmp), else wtmp."""
    data = _read(env, WTMPDB_PATH)
    if data is not None:
        return wtmpdb_logins(data, boot_time, env.problems)
    data = _read(env, WTMP_PATH)
    if data is not None:
        return wtmp_logins(parse_wtmp(data, env.problems), boot_time)
    return []


def _ready_markers(env: Env, users: set[str]) -> dict[str, ReadyMarker]:
    if env.state_dir is None:
        return {}
    markers: dict[str, ReadyMarker] = {}
    for user in users:
        if not _USER_NAME.fullmatch(user):
            continue
        data = _read(env, os.path.join(env.state_dir, "ready", user))
        marker = parse_ready_marker(data, env.problems) if data is not None else None
        if marker is not None:
            markers[user] = marker
    return markers


def _session_target_reached(env: Env, obs: SigninObservation) -> SigninObservation:
    """Without a known shell process, the user manager's graphical-session.target marks
    the shell up (readable for root only)."""
    if not _USER_NAME.fullmatch(obs.user):
        return obs
    shown = _run(
        env,
        (
            "systemctl", "--user", f"--machine={obs.user}@.host", "show",
            "graphical-session.target", "--property=ActiveEnterTimestamp", "--timestamp=us+utc",
        ),
    )  # fmt: skip
    if shown is None:
        return obs
    reached = parse_utc_timestamp(parse_properties(shown).get("ActiveEnterTimestamp", ""))
    if reached is None or reached < obs.started_at:  # an earlier session's activation
        return obs
    return dataclasses.replace(obs, shell_started_at=reached)


def signin_observations(env: Env, boot_time: float) -> list[SigninObservation]:
    # logind sees every session; the accounting files are for machines without a
    # readable journal.
    logins = _logind_logins(env, boot_time) or _accounting_logins(env, boot_time)
    if not logins:
        return []
    try:
        shells = _shell_starts_from(p.info for p in env.ps.process_iter(SHELL_ATTRS))
    except (psutil.Error, OSError) as exc:
        env.problems.skip("processes", f"process list unavailable: {exc}")
        shells = []
    found = observations(logins, shells, _ready_markers(env, {x.user for x in logins}))
    return [
        _session_target_reached(env, o) if o.shell_started_at is None and not o.ended else o
        for o in found
    ]


# --- crashes and foreground ---------------------------------------------------------


def crashes(env: Env, since: float) -> list[Crash]:
    text = _run(
        env,
        (
            "journalctl", "-q", "-o", "json", f"--since=@{int(since)}",
            "--output-fields=MESSAGE_ID,COREDUMP_EXE,COREDUMP_COMM,COREDUMP_TIMESTAMP",
            f"MESSAGE_ID={COREDUMP_MESSAGE_ID}",
        ),
    )  # fmt: skip
    if text is None:
        return []
    return coredump_crashes(parse_entries(text, env.problems), since, env.problems)


def foreground_app(env: Env) -> str | None:
    environ = _read(env, ENVIRON_PATH)
    if environ is not None and not x11_display(parse_environ(environ)):
        return None  # Wayland or no display: not knowable
    root = _run(env, ("xprop", "-root", "_NET_ACTIVE_WINDOW"))
    window = active_window(root) if root is not None else None
    if window is None:
        return None
    shown = _run(env, ("xprop", "-id", window, "_NET_WM_PID"))
    pid = window_pid(shown) if shown is not None else None
    if pid is None:
        return None
    try:
        name = env.ps.Process(pid).name()
    except (psutil.Error, OSError):
        return None
    return str(name) or None


# --- facts --------------------------------------------------------------------------


def _text(env: Env, path: str) -> str:
    raw = _read(env, path)
    return raw.decode("utf-8", "replace").strip() if raw is not None else ""


def os_facts(env: Env) -> dict[str, str]:
    version = ""
    for path in OS_RELEASE_PATHS:
        raw = _read(env, path)
        if raw is not None:
            version = parse_os_release(raw.decode("utf-8", "replace"), env.problems).get(
                "PRETTY_NAME", ""
            )
            break
    machine_id = _text(env, MACHINE_ID_PATH).lower()
    if machine_id and not _MACHINE_ID.fullmatch(machine_id):
        env.problems.skip("machine_id", f"not 32 hex digits: {machine_id[:40]!r}")
        machine_id = ""
    return {
        "os": "linux",
        "os_version": version,
        "machine_id": machine_id,
        # product_uuid is readable by root only; unknown otherwise.
        "hardware_id": _text(env, PRODUCT_UUID_PATH).lower(),
        "form_factor": form_factor(_text(env, CHASSIS_TYPE_PATH)),
        "manufacturer": system_string(_text(env, SYS_VENDOR_PATH)),
        "model": system_string(_text(env, PRODUCT_NAME_PATH)),
        "system_disk": system_disk(env.root),
    }
