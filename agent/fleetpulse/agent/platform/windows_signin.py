"""Windows sign-ins and their phases from parsed events (pure: no OS calls).

A sign-in is a person starting a desktop session, and only that (rule: ``is_desktop_logon``;
fields and values from Microsoft's "4624(S): An account was successfully logged on",
https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-4624,
and ``SECURITY_LOGON_TYPE``, https://learn.microsoft.com/en-us/windows/win32/api/ntsecapi/ne-ntsecapi-security_logon_type).
A Security 4624 starts one when all of these hold:

- ``LogonType`` is 2 (Interactive: at the console), 10 (RemoteInteractive: Remote
  Desktop) or 11 (CachedInteractive: cached credentials). 3 network, 4 batch (scheduled
  tasks with stored credentials), 5 service, 7 unlock, 8 network cleartext and 9
  NewCredentials (``runas /netonly``) start no desktop; unlock and reconnect continue one.
- ``LogonProcessName`` is ``User32`` (Winlogon's logon process; wevtutil pads it to
  ``User32 ``). ``seclogo`` is the Secondary Logon service (``runas``, "Run as different
  user"): a process under other credentials inside a desktop that already exists, with
  no logon screen, profile load, Group Policy or shell. ``Advapi`` is a program calling
  ``LogonUser`` / CredUI, which is also how Windows logs its ``DWM-*`` / ``UMFD-*``
  pseudo users and scheduled tasks; ``Negotiat``, ``Kerberos``, ``NtLmSsp`` are network
  and service logons.
- ``VirtualAccount`` is not "Yes" (``%%1842``): virtual and managed service accounts are
  not people.
- ``TargetUserSid`` is a person's account: ``S-1-5-21-…`` (domain or local account) or
  ``S-1-12-1-…`` (Microsoft Entra ID account). Well-known and service SIDs are not:
  ``S-1-5-18/19/20`` (SYSTEM, LOCAL SERVICE, NETWORK SERVICE), ``S-1-5-90-*`` (DWM),
  ``S-1-5-96-*`` (UMFD), ``S-1-5-80-*`` (NT SERVICE), ``S-1-5-82/83-*`` (app pools, VMs).

A UAC split token logs two 4624s for one sign-in, each naming the other in
``TargetLinkedLogonId`` (the elevated one has ``ElevatedToken`` "Yes"); they are merged.
Only logons that passed the rule are merge candidates, so a ``runas`` logon can never be
glued onto a sign-in, even when it names the same account. Everything else is
correlated to a sign-in by logon id (process events), user SID (events the user's own
processes write), or account name (Group Policy), within that sign-in's time window.
4624 fields used: ``TargetUserName``, ``TargetDomainName``, ``TargetUserSid``,
``TargetLogonId``, ``TargetLinkedLogonId``, ``LogonType`` (``LogonGuid`` is all zeros for
local and NTLM logons, so it cannot join anything). A 4647 or 4634 for the logon id marks
the sign-in ended; when and how its session ended is ``windows_session_end``.

Sub-phases (names from ``fleetpulse.contract.phases``):

- ``network_providers``: ``mpnotify.exe`` runtime, Security 4688 → 4689 (same process id).
- ``profile``: ``User Profile Service`` 1 → 2 (same user SID and session).
- ``group_policy``: ``GroupPolicy`` 4001 → 8001 sharing the Correlation ActivityID. The
  difference of the two timestamps is used (ms precision); 8001's
  ``PolicyElaspedTimeInSeconds`` is whole seconds and only used when 4001 is missing.
  Per-extension times (4016 → 5016) are not phases (their names are no closed vocabulary):
  they are the sign-in's ``contributors`` (``windows_contributors``), as are its logon
  scripts, Run-key startup applications and profile type.
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

from fleetpulse.agent.platform import windows_contributors as contributors
from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.windows_events import WinEvent, normalize_guid, parse_int
from fleetpulse.agent.platform.windows_session_end import session_end
from fleetpulse.contract.records import Phase, SigninObservation

log = logging.getLogger("fleetpulse.agent.platform.windows")

#: LogonType values that start a desktop session (Interactive, RemoteInteractive,
#: CachedInteractive); ``_windows`` pre-filters its XPath query on the same set.
INTERACTIVE_LOGON_TYPES = frozenset({2, 10, 11})
#: The logon process of Winlogon, the only one that signs a person in to a desktop.
DESKTOP_LOGON_PROCESS = "user32"
#: SID prefixes of accounts people sign in with (domain/local; Microsoft Entra ID).
PERSON_SID_PREFIXES = ("S-1-5-21-", "S-1-12-1-")
#: How wevtutil renders "Yes" in VirtualAccount / ElevatedToken (message %%1842).
YES = "%%1842"
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
    #: TerminalServices-LocalSessionManager/Operational 23/24 (session ends).
    session_manager: Sequence[WinEvent] = ()


def image_name(path: str | None) -> str:
    """``C:\\Windows\\explorer.exe`` → ``explorer.exe``."""
    return (path or "").replace("/", "\\").rsplit("\\", 1)[-1].strip().lower()


def is_desktop_logon(event: WinEvent, logon_type: int) -> bool:
    """Does this 4624 start a person's desktop session? (rule in the module docstring)"""
    if logon_type not in INTERACTIVE_LOGON_TYPES:
        return False
    if (event.get("LogonProcessName") or "").strip().casefold() != DESKTOP_LOGON_PROCESS:
        return False
    if (event.get("VirtualAccount") or "").strip() == YES:
        return False
    sid = (event.get("TargetUserSid") or "").strip().upper()
    return sid.startswith(PERSON_SID_PREFIXES)


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
        if not is_desktop_logon(event, logon_type):
            continue
        user = event.get("TargetUserName") or ""
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
        same_user = [
            x.started_at
            for x in logons
            if x.started_at > logon.started_at and x.sid == logon.sid and x.account == logon.account
        ]
        self.start = logon.started_at - ORDER_SLACK
        self.end_any = min(later, default=math.inf)
        self.end_user = min(same_user, default=math.inf)

    def user(self, event: WinEvent) -> bool:
        return self.start <= event.time < self.end_user

    def any(self, event: WinEvent) -> bool:
        return self.start <= event.time < self.end_any


def _process(
    events: Sequence[WinEvent], image: str, ids: frozenset[int], window: _Window
) -> WinEvent | None:
    def accept(e: WinEvent) -> bool:
        if e.event_id != 4688 or image_name(e.get("NewProcessName")) != image:
            return False
        owners = {parse_int(e.get("SubjectLogonId")), parse_int(e.get("TargetLogonId"))}
        return bool(owners & ids) and window.user(e)

    return _first(events, accept)


def _network_providers(security: Sequence[WinEvent], window: _Window) -> float | None:
    # mpnotify.exe runs as SYSTEM inside winlogon, so only time ties it to the sign-in.
    start = _first(
        security,
        lambda e: (
            e.event_id == 4688
            and window.any(e)
            and image_name(e.get("NewProcessName")) == "mpnotify.exe"
        ),
    )
    if start is None:
        return None
    pid = parse_int(start.get("NewProcessId"))
    end = _first(
        security,
        lambda e: (
            e.event_id == 4689
            and e.time >= start.time
            and image_name(e.get("ProcessName")) == "mpnotify.exe"
            and parse_int(e.get("ProcessId")) == pid
        ),
    )
    return None if end is None else end.time - start.time


def _profile(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    start = _first(events, lambda e: e.event_id == 1 and e.user_sid == logon.sid and window.user(e))
    if start is None:
        return None
    session = start.get("Session")
    end = _first(
        events,
        lambda e: (
            e.event_id == 2
            and e.user_sid == logon.sid
            and e.time >= start.time
            and e.get("Session") == session
        ),
    )
    return None if end is None else end.time - start.time


def _activity(event: WinEvent) -> str:
    return event.activity_id or normalize_guid(event.get("PolicyActivityId"))


def _same_account(event: WinEvent, logon: Logon) -> bool:
    return (event.get("PrincipalSamName") or "").casefold() == logon.account.casefold()


def _group_policy(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    start = _first(
        events, lambda e: e.event_id == 4001 and _same_account(e, logon) and window.user(e)
    )
    if start is None:
        # Without the start event only the whole-seconds elapsed field is left.
        end = _first(
            events, lambda e: e.event_id == 8001 and _same_account(e, logon) and window.user(e)
        )
        elapsed = parse_int(end.get("PolicyElaspedTimeInSeconds")) if end else None
        return None if elapsed is None else float(elapsed)
    activity = _activity(start)
    end = _first(
        events,
        lambda e: (
            e.event_id == 8001
            and e.time >= start.time
            and (_activity(e) == activity if activity else _same_account(e, logon))
        ),
    )
    if end is None:
        return None
    return end.time - start.time


def _gp_activity(events: Sequence[WinEvent], logon: Logon, window: _Window) -> str:
    """The ActivityID of the sign-in's policy run (its 4001), or ``""``."""
    start = _first(
        events, lambda e: e.event_id == 4001 and _same_account(e, logon) and window.user(e)
    )
    return _activity(start) if start is not None else ""


def _script_activities(events: Sequence[WinEvent], logon: Logon, window: _Window) -> set[str]:
    """The ActivityIDs of the sign-in's script runs (its 4018s)."""
    return {
        _activity(e)
        for e in events
        if e.event_id == 4018 and _same_account(e, logon) and window.user(e) and _activity(e)
    }


def _gp_scripts(events: Sequence[WinEvent], logon: Logon, window: _Window) -> float | None:
    starts = sorted(
        (e for e in events if e.event_id == 4018 and _same_account(e, logon) and window.user(e)),
        key=lambda e: e.time,
    )
    if not starts:
        return None
    ends = []
    for start in starts:
        activity, kind = _activity(start), start.get("ScriptType")

        def matches(
            e: WinEvent, start: WinEvent = start, activity: str = activity, kind: str | None = kind
        ) -> bool:
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
        return (
            e.event_id == event_id
            and e.user_sid == logon.sid
            and (e.get("TaskName") or "").casefold() == "activesetup"
        )

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
        run_keys = _first(
            sources.shell,
            lambda e: e.event_id == 9705 and e.user_sid == logon.sid and window.user(e),
        )
        shell_started_at = run_keys.time if run_keys else None
    durations = {
        "network_providers": _network_providers(security, window),
        "profile": _profile(sources.profile, logon, window),
        "group_policy": _group_policy(sources.group_policy, logon, window),
        "gp_scripts": _gp_scripts(sources.group_policy, logon, window),
        "userinit_explorer": (explorer.time - userinit.time) if explorer and userinit else None,
        "active_setup": _active_setup(sources.shell, logon, window),
    }
    gp = sources.group_policy
    found = [
        *contributors.extensions(gp, _gp_activity(gp, logon, window)),
        *contributors.scripts(gp, _script_activities(gp, logon, window)),
        *contributors.startup_apps(sources.shell, logon.sid, window.user),
    ]
    end = session_end(
        logon.logon_ids,
        logon.account,
        logon.started_at,
        window.end_user,
        security,
        sources.session_manager,
    )
    profile = contributors.profile(sources.profile, logon.sid, window.user, durations["profile"])
    if profile is not None:
        found.insert(0, profile)
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
        ended=logon.ended or end is not None,
        contributors=contributors.bounded(found),
        ended_at=None if end is None else end[0],
        end_reason=None if end is None else end[1],
    )
