"""Windows sign-ins and their phases from parsed events (pure: no OS calls).

A sign-in starts at ``Security`` 4624 with LogonType 2 (interactive), 10 (remote
interactive) or 11 (cached interactive); the ``DWM-*`` / ``UMFD-*`` pseudo logons that
Windows makes for its window manager and font driver host are not people. A UAC split
token logs two linked 4624s for one sign-in; they are merged. Everything else is
correlated to a sign-in by logon id (process events), user SID (events the user's own
processes write), or account name (Group Policy), within that sign-in's time window.
4624 fields used: ``TargetUserName``, ``TargetDomainName``, ``TargetUserSid``,
``TargetLogonId``, ``TargetLinkedLogonId``, ``LogonType`` (``LogonGuid`` is all zeros for
local and NTLM logons, so it cannot join anything). A 4647 or 4634 for the logon id marks
the sign-in ended.

Sub-phases (names from ``agent.phases``):

- ``network_providers``: ``mpnotify.exe`` runtime, Security 4688 → 4689 (same process id).
- ``profile``: ``User Profile Service`` 1 → 2 (same user SID and session).
- ``group_policy``: ``GroupPolicy`` 4001 → 8001 sharing the Correlation ActivityID. The
  difference of the two timestamps is used (ms precision); 8001's
  ``PolicyElaspedTimeInSeconds`` is whole seconds and only used when 4001 is missing.
  Per-extension 4016 → 5016 (``CSEElaspedTimeInMilliSeconds``) is logged at debug level,
  not reported as phases (their names would be unbounded label values).
- ``gp_scripts``: ``GroupPolicy`` 4018 → 5018, first start to last end.
- ``userinit_explorer``: Security 4688 of ``userinit.exe`` → 4688 of ``explorer.exe``.
- ``active_setup``: ``Shell-Core`` 62170 → 62171 with ``TaskName=ActiveSetup``.

``shell_started_at`` is Security 4688 for ``explorer.exe`` in the sign-in's logon session
(needs "Audit Process Creation"). Without it, ``Shell-Core/Operational`` 9705 (Explorer
starts enumerating the Run keys) by the same user is used: it is written by the running
shell, so it marks "shell started" slightly late but never early.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from agent.platform.env import Problems
from agent.platform.windows_events import WinEvent, normalize_guid, parse_int
from agent.records import Phase, SigninObservation

log = logging.getLogger("fleetpulse.agent.platform.windows")

INTERACTIVE_LOGON_TYPES = frozenset({2, 10, 11})
PSEUDO_USER_PREFIXES = ("DWM-", "UMFD-")
#: Different components stamp their events; allow this much clock-order slack.
ORDER_SLACK = 2.0
SOURCE = "windows.signin"


@dataclass(frozen=True, slots=True)
class Logon:
    """One interactive sign-in, as Security 4624 tells it."""

    logon_ids: frozenset[int]
    sid: str
    account: str
    started_at: float
    ended: bool = False

    @property
    def session_id(self) -> str:
        return f"win-{min(self.logon_ids):x}-{int(self.started_at)}"


@dataclass(frozen=True, slots=True)
class SigninSources:
    """The parsed logs a sign-in is assembled from."""

    security: Sequence[WinEvent] = ()
    profile: Sequence[WinEvent] = ()
    group_policy: Sequence[WinEvent] = ()
    shell: Sequence[WinEvent] = ()


def image_name(path: str | None) -> str:
    """``C:\\Windows\\explorer.exe`` → ``explorer.exe``."""
    return (path or "").replace("/", "\\").rsplit("\\", 1)[-1].strip().lower()


def interactive_logons(
    security: Iterable[WinEvent], since: float, problems: Problems
) -> list[Logon]:
    """Sign-ins since ``since``, oldest first, linked UAC logons merged."""
    raw: list[tuple[float, int, int, str, str]] = []
    ended_ids: set[int] = set()
    for event in security:
        if event.event_id in (4634, 4647):
            logon_id = parse_int(event.get("TargetLogonId"))
            if logon_id is not None:
                ended_ids.add(logon_id)
            continue
        if event.event_id != 4624 or event.time < since - ORDER_SLACK:
            continue
        logon_type = parse_int(event.get("LogonType"))
        if logon_type is None:
            problems.skip(SOURCE, "4624 without LogonType")
            continue
        if logon_type not in INTERACTIVE_LOGON_TYPES:
            continue
        user = event.get("TargetUserName") or ""
        if user.upper().startswith(PSEUDO_USER_PREFIXES):
            continue
        logon_id = parse_int(event.get("TargetLogonId"))
        if not user or logon_id is None:
            problems.skip(SOURCE, "4624 without TargetUserName or TargetLogonId")
            continue
        domain = event.get("TargetDomainName") or ""
        account = f"{domain}\\{user}" if domain and domain != "-" else user
        linked = parse_int(event.get("TargetLinkedLogonId")) or 0
        raw.append((event.time, logon_id, linked, event.get("TargetUserSid") or "", account))
    raw.sort()
    merged: list[tuple[float, set[int], str, str]] = []
    by_id: dict[int, int] = {}
    for started, logon_id, linked, sid, account in raw:
        if linked and linked in by_id:
            index = by_id[linked]
            merged[index][1].add(logon_id)
            by_id[logon_id] = index
            continue
        by_id[logon_id] = len(merged)
        merged.append((started, {logon_id}, sid, account))
    return [
        Logon(
            logon_ids=frozenset(ids),
            sid=sid,
            account=account,
            started_at=started,
            ended=bool(ids & ended_ids),
        )
        for started, ids, sid, account in merged
    ]


def _first(events: Iterable[WinEvent], accept: Callable[[WinEvent], bool]) -> WinEvent | None:
    return min((e for e in events if accept(e)), key=lambda e: e.time, default=None)


class _Window:
    """The span of time a sign-in's own events can fall in."""

    def __init__(self, logon: Logon, logons: Sequence[Logon]) -> None:
        later = [x.started_at for x in logons if x.started_at > logon.started_at]
        same_user = [x.started_at for x in logons if x.started_at > logon.started_at
                     and x.sid == logon.sid and x.account == logon.account]
        self.start = logon.started_at - ORDER_SLACK
        self.end_any = min(later, default=math.inf)
        self.end_user = min(same_user, default=math.inf)

    def user(self, event: WinEvent) -> bool:
        return self.start <= event.time < self.end_user

    def any(self, event: WinEvent) -> bool:
        return self.start <= event.time < self.end_any


def _process(events: Sequence[WinEvent], image: str, ids: frozenset[int],
             window: _Window) -> WinEvent | None:
    def accept(e: WinEvent) -> bool:
        if e.event_id != 4688 or image_name(e.get("NewProcessName")) != image:
            return False
        owners = {parse_int(e.get("SubjectLogonId")), parse_int(e.get("TargetLogonId"))}
        return bool(owners & ids) and window.user(e)

    return _first(events, accept)


def _network_providers(security: Sequence[WinEvent], window: _Window) -> float | None:
    # mpnotify.exe runs as SYSTEM inside winlogon, so only time ties it to the sign-in.
    start = _first(security, lambda e: e.event_id == 4688 and window.any(e)
                   and image_name(e.get("NewProcessName")) == "mpnotify.exe")
    if start is None:
        return None
    pid = parse_int(start.get("NewProcessId"))
    end = _first(security, lambda e: e.event_id == 4689 and e.time >= start.time
                 and image_name(e.get("ProcessName")) == "mpnotify.exe"
                 and parse_int(e.get("ProcessId")) == pid)
    return None if end is None else end.time - start.time


def _profile(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    start = _first(events, lambda e: e.event_id == 1 and e.user_sid == logon.sid
                   and window.user(e))
    if start is None:
        return None
    session = start.get("Session")
    end = _first(events, lambda e: e.event_id == 2 and e.user_sid == logon.sid
                 and e.time >= start.time and e.get("Session") == session)
    return None if end is None else end.time - start.time


def _activity(event: WinEvent) -> str:
    return event.activity_id or normalize_guid(event.get("PolicyActivityId"))


def _same_account(event: WinEvent, logon: Logon) -> bool:
    return (event.get("PrincipalSamName") or "").casefold() == logon.account.casefold()


def _group_policy(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    start = _first(events, lambda e: e.event_id == 4001 and _same_account(e, logon)
                   and window.user(e))
    if start is None:
        # Without the start event only the whole-seconds elapsed field is left.
        end = _first(events, lambda e: e.event_id == 8001 and _same_account(e, logon)
                     and window.user(e))
        elapsed = parse_int(end.get("PolicyElaspedTimeInSeconds")) if end else None
        return None if elapsed is None else float(elapsed)
    activity = _activity(start)
    end = _first(events, lambda e: e.event_id == 8001 and e.time >= start.time
                 and (_activity(e) == activity if activity else _same_account(e, logon)))
    if end is None:
        return None
    _log_extensions(events, activity)
    return end.time - start.time


def _log_extensions(events: Sequence[WinEvent], activity: str) -> None:
    if not activity or not log.isEnabledFor(logging.DEBUG):
        return
    for done in events:
        if done.event_id == 5016 and _activity(done) == activity:
            log.debug(
                "group policy extension %s took %s ms",
                done.get("CSEExtensionName") or done.get("CSEExtensionId"),
                done.get("CSEElaspedTimeInMilliSeconds"),
            )


def _gp_scripts(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    starts = sorted((e for e in events if e.event_id == 4018 and _same_account(e, logon)
                     and window.user(e)), key=lambda e: e.time)
    if not starts:
        return None
    ends = []
    for start in starts:
        activity, kind = _activity(start), start.get("ScriptType")

        def matches(e: WinEvent, start: WinEvent = start, activity: str = activity,
                    kind: str | None = kind) -> bool:
            if e.event_id != 5018 or e.time < start.time or e.get("ScriptType") != kind:
                return False
            return _activity(e) == activity if activity else _same_account(e, logon)

        end = _first(events, matches)
        if end is None:
            return None  # a script still runs: the phase is not over
        ends.append(end.time)
    return max(ends) - starts[0].time


def _active_setup(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    def is_task(e: WinEvent, event_id: int) -> bool:
        return (e.event_id == event_id and e.user_sid == logon.sid
                and (e.get("TaskName") or "").casefold() == "activesetup")

    start = _first(events, lambda e: is_task(e, 62170) and window.user(e))
    if start is None:
        return None
    end = _first(events, lambda e: is_task(e, 62171) and e.time >= start.time)
    return None if end is None else end.time - start.time


def observe(
    logon: Logon,
    logons: Sequence[Logon],
    sources: SigninSources,
    problems: Problems,
    first_login: bool | None = None,
    after_update: bool | None = None,
) -> SigninObservation:
    """One sign-in with every sub-phase its events allow; the rest stays unknown."""
    window = _Window(logon, logons)
    security = sources.security
    userinit = _process(security, "userinit.exe", logon.logon_ids, window)
    explorer = _process(security, "explorer.exe", logon.logon_ids, window)
    shell_started_at = explorer.time if explorer else None
    if shell_started_at is None:
        run_keys = _first(sources.shell, lambda e: e.event_id == 9705
                          and e.user_sid == logon.sid and window.user(e))
        shell_started_at = run_keys.time if run_keys else None
    durations = {
        "network_providers": _network_providers(security, window),
        "profile": _profile(sources.profile, logon, window),
        "group_policy": _group_policy(sources.group_policy, logon, window),
        "gp_scripts": _gp_scripts(sources.group_policy, logon, window),
        "userinit_explorer": (explorer.time - userinit.time) if explorer and userinit else None,
        "active_setup": _active_setup(sources.shell, logon, window),
    }
    phases = []
    for name, seconds in durations.items():
        if seconds is None:
            continue
        if seconds < 0:
            problems.skip(SOURCE, f"{name} ends before it starts")
            continue
        phases.append(Phase(name, seconds))
    return SigninObservation(
        session_id=logon.session_id,
        user=logon.account,
        started_at=logon.started_at,
        shell_started_at=shell_started_at,
        phases=tuple(phases),
        first_login=first_login,
        after_update=after_update,
        ended=logon.ended,
    )
