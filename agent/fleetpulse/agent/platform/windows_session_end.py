"""When and how a Windows sign-in's session ended, from parsed events (pure: no OS calls).

The end is the earliest of these, each tied to the sign-in as stated:

- Security 4647 "User initiated logoff" (``TargetLogonId``) and 4634 "An account was
  logged off" (``TargetLogonId``, ``LogonType`` 2/10/11): one of the sign-in's logon ids
  (both logon ids of a UAC split token belong to it) → ``sign_out``. Fields from
  https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-4647
  and .../event-4634.
- Security 4779 "A session was disconnected from a Window Station" (``LogonID``, written
  for a Remote Desktop disconnect and for Fast User Switching away from a desktop; needs
  "Audit Other Logon/Logoff Events") → ``disconnect``. Fields from .../event-4779
  (``AccountName``, ``AccountDomain``, ``LogonID``, ``SessionName``, ``ClientName``,
  ``ClientAddress``).
- Microsoft-Windows-TerminalServices-LocalSessionManager/Operational 24 "Session has been
  disconnected" → ``disconnect`` and 23 "Session logoff succeeded" → ``sign_out``, for
  machines without that audit policy. They carry ``UserData/EventXML`` ``User``
  (``DOMAIN\\user``), ``SessionID`` (the Remote Desktop session number, not a logon id)
  and ``Address``, so they are tied by account name within the sign-in's time window
  (from its start to the same account's next sign-in).

A disconnected session can be reconnected (Security 4778, LocalSessionManager 25); the
wire carries one end per session, so such a session's length runs to its first
disconnect (a lower bound of the time it was in use).
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetpulse.agent.platform.windows_events import WinEvent, parse_int
from fleetpulse.contract.records import EndReason

#: Security events that end a logon session, the field naming it, and what they mean.
SECURITY_ENDS: dict[int, tuple[str, EndReason]] = {
    4647: ("TargetLogonId", EndReason.SIGN_OUT),
    4634: ("TargetLogonId", EndReason.SIGN_OUT),
    4779: ("LogonID", EndReason.DISCONNECT),
}
#: LocalSessionManager/Operational events that end a session, tied by ``User``.
SESSION_MANAGER_ENDS: dict[int, EndReason] = {
    23: EndReason.SIGN_OUT,
    24: EndReason.DISCONNECT,
}


def session_end(
    logon_ids: frozenset[int],
    account: str,
    started_at: float,
    window_end: float,
    security: Iterable[WinEvent],
    session_manager: Iterable[WinEvent],
) -> tuple[float, EndReason] | None:
    """``(ended_at, reason)`` of the sign-in with these logon ids and account that started
    at ``started_at`` (Unix seconds), or ``None`` while no event ends it. ``window_end`` is
    when the same account's next sign-in started (``math.inf`` if none)."""
    found: list[tuple[float, EndReason]] = []
    for e in security:
        known = SECURITY_ENDS.get(e.event_id)
        if known is None or e.time < started_at:
            continue
        field, reason = known
        if parse_int(e.get(field)) in logon_ids:
            found.append((e.time, reason))
    wanted = account.casefold()
    for e in session_manager:
        how = SESSION_MANAGER_ENDS.get(e.event_id)
        if how is None or not started_at <= e.time < window_end:
            continue
        if (e.get("User") or "").strip().casefold() == wanted:
            found.append((e.time, how))
    return min(found, key=lambda f: f[0], default=None)
