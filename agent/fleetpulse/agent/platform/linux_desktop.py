"""From logins to sign-in observations: which logins are desktop sign-ins, when their
desktop shell started and when the ``session-ready`` hook marked them usable.

Pure: the caller gathers logins, shell processes and marker files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fleetpulse.agent.platform.env import Problems
from fleetpulse.contract.records import EndReason, SigninObservation

MARKER_SOURCE = "session_ready"

#: Process names of desktop shells: their start ends the ``core`` sign-in phase.
DESKTOP_SHELLS = frozenset(
    {
        "gnome-shell",
        "plasmashell",
        "xfce4-session",
        "cinnamon",
        "mate-session",
        "lxqt-session",
        "lxsession",
        "budgie-panel",
        "enlightenment",
        "pantheon-session",
        "ukui-session",
        "dde-desktop",
    }
)

#: Accounts display managers run their login screens as; their sessions are no sign-ins.
GREETER_USERS = frozenset(
    {"gdm", "Debian-gdm", "sddm", "lightdm", "gnome-initial-setup", "greeter", "_greetd"}
)


@dataclass(frozen=True, slots=True)
class Login:
    """A login one source recorded, before deciding whether it was a desktop sign-in."""

    session_id: str
    user: str
    started_at: float
    #: ``None`` when the source cannot tell; a desktop shell or marker then decides.
    graphical: bool | None = None
    ended: bool = False
    #: When the login ended (Unix seconds), where the source says; ``ended`` without it
    #: means it ended at an unknown time.
    ended_at: float | None = None
    #: ``session_id`` is logind's, the id the ``session-ready`` hook records.
    logind: bool = False


@dataclass(frozen=True, slots=True)
class ShellStart:
    user: str
    started_at: float


@dataclass(frozen=True, slots=True)
class ReadyMarker:
    at: float
    session_id: str | None


def shell_starts(infos: Iterable[Mapping[str, object]]) -> list[ShellStart]:
    """Desktop shells among psutil ``process_iter`` info dicts (name, username, create_time)."""
    out: list[ShellStart] = []
    for info in infos:
        name, user, created = info.get("name"), info.get("username"), info.get("create_time")
        if name not in DESKTOP_SHELLS or not isinstance(user, str):
            continue
        if isinstance(created, int | float) and not isinstance(created, bool):
            out.append(ShellStart(user=user, started_at=float(created)))
    return out


def _finite(value: float) -> bool:
    """A finite number a float holds (a 400-digit integer is not: OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_ready_marker(data: bytes, problems: Problems) -> ReadyMarker | None:
    """The ``session-ready`` marker: JSON ``{"at": unix seconds, "session_id": str | null}``."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        problems.skip(MARKER_SOURCE, f"marker is not UTF-8 JSON: {exc}")
        return None
    at = obj.get("at") if isinstance(obj, dict) else None
    session_id = obj.get("session_id") if isinstance(obj, dict) else None
    if (
        not isinstance(at, int | float)
        or isinstance(at, bool)
        or not _finite(at)
        or at <= 0
        or not (session_id is None or isinstance(session_id, str))
    ):
        problems.skip(MARKER_SOURCE, f"marker lacks a valid time or session id: {obj!r:.80}")
        return None
    return ReadyMarker(at=float(at), session_id=session_id or None)


def _marker_applies(marker: ReadyMarker, login: Login, window_end: float) -> bool:
    if marker.at < login.started_at:
        return False
    if login.logind and marker.session_id is not None:
        return marker.session_id == login.session_id
    # Without a logind id to compare, the marker belongs to the user's latest sign-in.
    return marker.at < window_end


def observations(
    logins: Iterable[Login],
    shells: Iterable[ShellStart],
    markers: Mapping[str, ReadyMarker],
) -> list[SigninObservation]:
    """Desktop sign-ins among ``logins``, each with its shell start and ready mark.

    A login whose source could not tell its kind counts as a desktop sign-in only with
    evidence: its user's desktop shell started during it, or its ready marker. Without
    evidence an ended one comes back ``end_only`` (its end, for a sign-in the agent may
    have reported while it lasted).
    """
    ordered = sorted(
        (x for x in logins if x.graphical is not False and x.user not in GREETER_USERS),
        key=lambda x: x.started_at,
    )
    by_user: dict[str, list[ShellStart]] = {}
    for shell in sorted(shells, key=lambda s: s.started_at):
        by_user.setdefault(shell.user, []).append(shell)

    out: list[SigninObservation] = []
    for i, login in enumerate(ordered):
        # A shell or marker after the user's next sign-in belongs to that one.
        window_end = next(
            (x.started_at for x in ordered[i + 1 :] if x.user == login.user), math.inf
        )
        shell_at = next(
            (
                s.started_at
                for s in by_user.get(login.user, ())
                if login.started_at <= s.started_at < window_end
            ),
            None,
        )
        marker = markers.get(login.user)
        ready = marker.at if marker and _marker_applies(marker, login, window_end) else None
        # Undecided and no evidence: not a sign-in; an ended one is still passed on by its
        # end, in case it was a sign-in the agent reported while it lasted.
        end_only = login.graphical is None and shell_at is None and ready is None
        if end_only and login.ended_at is None:
            continue
        out.append(
            SigninObservation(
                session_id=login.session_id,
                user=login.user,
                started_at=login.started_at,
                shell_started_at=shell_at,
                desktop_ready_at=ready,
                ended=login.ended or login.ended_at is not None,
                # Linux sources record a session's removal only: every end is a sign-out.
                ended_at=login.ended_at,
                end_reason=None if login.ended_at is None else EndReason.SIGN_OUT,
                end_only=end_only,
            )
        )
    return out
