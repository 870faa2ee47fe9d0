"""logind sessions from the journal ("New session" / "Removed session" entries) and from
``loginctl show-session`` output, as logins.

Pure: the caller runs journalctl and loginctl.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_desktop import Login
from fleetpulse.agent.platform.linux_journal import SOURCE, usec_field

SESSION_START_ID = "8d45620c1a4348dbb17410da57c60c66"
SESSION_STOP_ID = "3354939424b4456d9802ca8333ed424a"

GRAPHICAL_TYPES = frozenset({"x11", "wayland", "mir"})
TEXT_TYPES = frozenset({"tty", "web"})
#: Session classes that are never a person signing in (login screens, lock screens,
#: the per-user service manager, background jobs).
NON_PERSON_CLASSES = frozenset(
    {"greeter", "lock-screen", "background", "background-light", "manager", "manager-early", "none"}
)


def classify(session_type: str | None, session_class: str | None) -> bool | None:
    """True for a desktop session, False for anything else, None when logind did not say."""
    if session_class in NON_PERSON_CLASSES:
        return False
    if session_type in GRAPHICAL_TYPES:
        return True
    if session_type in TEXT_TYPES:
        return False
    return None  # "unspecified" or not recorded: some display managers never set it


def logind_logins(entries: Iterable[Mapping[str, str]], problems: Problems) -> list[Login]:
    """Sessions started in the given journal entries; those with a removal entry ("Removed
    session N.", logged by ``session_finalize`` when the session's last process is gone) are
    ended, at that entry's ``__REALTIME_TIMESTAMP``.

    logind v249-v256 logs SESSION_ID, USER_ID (the user name) and LEADER only
    (src/login/logind-session.c, ``session_start`` / ``session_finalize``), so its sessions
    are left undecided (``graphical=None``) for ``loginctl show-session`` or a desktop
    shell to decide; later releases also log CLASS and TYPE, which are used when present.
    """
    starts: list[Mapping[str, str]] = []
    stopped: dict[str, float | None] = {}
    for entry in entries:
        message_id = entry.get("MESSAGE_ID")
        if message_id == SESSION_STOP_ID and entry.get("SESSION_ID"):
            # logind reuses no session id within a boot: the first removal is the one
            stopped.setdefault(entry["SESSION_ID"], usec_field(entry, "__REALTIME_TIMESTAMP"))
        elif message_id == SESSION_START_ID:
            starts.append(entry)

    logins: list[Login] = []
    for entry in starts:
        session_id, user = entry.get("SESSION_ID", ""), entry.get("USER_ID", "")
        at = usec_field(entry, "__REALTIME_TIMESTAMP")
        if not session_id or not user or at is None:
            problems.skip(SOURCE, f"logind session entry lacks id, user or time: {sorted(entry)}")
            continue
        logins.append(
            Login(
                session_id=session_id,
                user=user,
                started_at=at,
                graphical=classify(entry.get("TYPE"), entry.get("CLASS")),
                ended=session_id in stopped,
                ended_at=stopped.get(session_id),
                logind=True,
            )
        )
    return logins


def parse_properties(text: str) -> dict[str, str]:
    """``Key=value`` lines of ``loginctl show-session`` / ``systemctl show`` output."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            props[key.strip()] = value.strip()
    return props
