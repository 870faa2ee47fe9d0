"""The named parts of a Windows sign-in's time, from parsed events (pure: no OS calls).

Each contributor is ``(kind, name, seconds)`` (``fleetpulse.contract.records.Contributor``,
kinds from ``fleetpulse.contract.phases.CONTRIBUTOR_KINDS``). Names are bounded and carry
no path, argument or user name: an extension's documented name (or its GUID), a script's
file name, an executable's file name, a profile type.

- ``gp_extension``: ``Microsoft-Windows-GroupPolicy/Operational`` 5016 ("Completed
  {CSEExtensionName} Extension Processing in {CSEElaspedTimeInMilliSeconds} milliseconds"),
  and 6016 / 7016 (the same, completed with a warning / an error), sharing the Correlation
  ActivityID of the sign-in's 4001. Seconds are ``CSEElaspedTimeInMilliSeconds`` / 1000;
  without it, the 4016 → 5016 timestamp difference. The name is looked up by
  ``CSEExtensionId`` in ``CSE_NAMES`` (Microsoft's Group Policy protocol specifications,
  each extension's "Standards Assignments" section, e.g. [MS-GPPREF] 1.9,
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-gppref/a00e597a-cd21-4a97-9277-f53fae251acf);
  an extension not in the table is named by its GUID (``{…}``, upper case), never by the
  free-text ``CSEExtensionName`` a third-party extension registers.
- ``gp_script``: GroupPolicy 4019 ("Running script name {ScriptName}") → 5019 ("Completed
  {ScriptName} in {ScriptElaspedTimeInSeconds} seconds"), with the ActivityID of one of the
  sign-in's 4018 ("Starting {ScriptType} for {PrincipalSamName}"). Seconds are the
  timestamp difference (ms); without the 4019, the whole seconds of
  ``ScriptElaspedTimeInSeconds``. Only the file name of ``ScriptName`` is kept; 4019's
  ``ScriptFileSystemPath`` and ``ScriptArguments`` are never read.
- ``startup_app``: ``Microsoft-Windows-Shell-Core/Operational`` 9707 → 9708
  (``Explorer_ExecutingFromRunKey`` start/stop, ``Command``; written by the user's
  Explorer, so ``Security/@UserID`` is the user's SID), paired by ``Command``. The name is
  the executable's file name, lower case (arguments and folders dropped).
- ``profile``: ``Microsoft-Windows-User Profile Service/Operational`` 67 (``LogonType``,
  ``LocalPath``, ``ProfileType``) for the user's SID names the type: "Temporary" →
  ``temporary``, "Roaming" → ``roaming``, "Mandatory" → ``mandatory``, "Regular"/"Local" →
  ``local``; its seconds are the ``profile`` phase (1 → 2). ``LocalPath`` (the profile
  folder, named after the user) is never read. Any other type, or no 67, gives no
  contributor.

Field names are those of the providers' manifests (as listed by ``wevtutil gp`` /
OTRF OSSEM's dictionaries of the Microsoft-Windows-GroupPolicy, -Shell-Core and
-User Profiles Service providers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence

from fleetpulse.agent.platform.windows_events import WinEvent, normalize_guid, parse_int
from fleetpulse.contract.records import Contributor

#: At most this many contributors per sign-in (the collector refuses more): the longest.
MAX_CONTRIBUTORS = 64
#: Names are cut to this many characters (the collector refuses longer ones).
MAX_NAME = 64

#: Client-side extension GUID → Microsoft's name for it. Sources: the "Standards
#: Assignments" section of each Group Policy protocol extension specification (learn.microsoft.com,
#: openspecs/windows_protocols): [MS-GPREG] 1.9, [MS-GPSB] 1.9, [MS-GPEF] 1.9, [MS-GPFR] 1.9,
#: [MS-GPSCR] 1.9, [MS-GPSI] 1.9, [MS-GPDPC] 1.9, [MS-GPWL] 1.9, [MS-GPAC] 1.9 and the
#: Preferences table of [MS-GPPREF] 1.9 (its "Drives" preference is titled "Drive Maps" in
#: [MS-GPPREF] 2.2.1.3 and in the Group Policy Management Console).
CSE_NAMES: dict[str, str] = {
    "35378EAC-683F-11D2-A89A-00C04FBBCFA2": "Registry",
    "827D319E-6EAC-11D2-A4EA-00C04F79F83A": "Security",
    "B1BE8D72-6EAC-11D2-A4EA-00C04F79F83A": "EFS Recovery",
    "25537BA6-77A8-11D2-9B6C-0000F8080861": "Folder Redirection",
    "42B5FAAE-6536-11D2-AE5A-0000F87571E3": "Scripts",
    "C6DC5466-785A-11D2-84D0-00C04FB169F7": "Software Installation",
    "8A28E2C5-8D06-49A4-A08C-632DAA493E17": "Deployed Printer Connections",
    "0ACDD40C-75AC-47AB-BAA0-BF6DE7E7FE63": "Wireless",
    "F3CCC681-B74C-4060-9F26-CD84525DCA2A": "Audit Policy Configuration",
    # [MS-GPPREF] 1.9: Group Policy Preferences
    "F9C77450-3A41-477E-9310-9ACD617BD9E3": "Applications",
    "728EE579-943C-4519-9EF7-AB56765798ED": "Data Sources",
    "1A6364EB-776B-4120-ADE1-B63A406A76B5": "Devices",
    "5794DAFD-BE60-433F-88A2-1A31939AC01F": "Drive Maps",
    "0E28E245-9368-4853-AD84-6DA3BA35BB75": "Environment Variables",
    "7150F9BF-48AD-4DA4-A49C-29EF4A8369BA": "Files",
    "A3F3E39B-5D83-4940-B954-28315B82F0A8": "Folder Options",
    "6232C319-91AC-4931-9385-E70C2B099F0E": "Folders",
    "74EE6C03-5363-4554-B161-627540339CAB": "Ini Files",
    "E47248BA-94CC-49C4-BBB5-9EB7F05183D0": "Internet Settings",
    "17D89FEC-5C44-4972-B12D-241CAEF74509": "Local Users and Groups",
    "3A0DBA37-F8B2-4356-83DE-3E90BD5C261F": "Network Options",
    "6A4C88C6-C502-4F74-8F60-2CB23EDC24E2": "Network Shares",
    "E62688F0-25FD-4C90-BFF5-F508B9D2E31F": "Power Options",
    "BC75B1ED-5833-4858-9BB8-CBF0B166DF9D": "Printers",
    "E5094040-C46C-4115-B030-04FB2E545B00": "Regional Options",
    "B087BE9D-ED37-454F-AF9C-04291E351182": "Registry (Preferences)",
    "AADCED64-746C-4633-A97C-D61349046527": "Scheduled Tasks",
    "91FBB303-0CD5-4055-BF42-E512A681B325": "Services",
    "C418DD9D-0D14-4EFB-8FBF-CFE535C8FAC7": "Shortcuts",
    "E4F48E54-F38D-4884-BFB9-D4D2E5729C18": "Start Menu",
}

#: Event 67 ``ProfileType`` (lower case) → the profile contributor's name
#: (``fleetpulse.contract.phases.PROFILE_TYPES``).
PROFILE_TYPES = {
    "regular": "local",
    "local": "local",
    "roaming": "roaming",
    "temporary": "temporary",
    "mandatory": "mandatory",
}
#: GroupPolicy events that end an extension's processing (success, warning, error).
EXTENSION_DONE = (5016, 6016, 7016)

#: A command line's program: everything up to the first space after a known extension.
_PROGRAM = re.compile(
    r"^\s*(.*?\.(?:exe|com|bat|cmd|vbs|vbe|js|jse|wsf|ps1|kix|lnk|scr|msc|cpl))(?=[\s,\"]|$)",
    re.IGNORECASE,
)


def file_name(command: str | None) -> str:
    """The file name of a command line's program, without folders or arguments:
    ``"C:\\Program Files\\Teams\\Teams.exe" --system`` → ``Teams.exe``,
    ``\\\\corp\\netlogon\\map.cmd /all`` → ``map.cmd``; ``""`` when there is none: a
    folder (a trailing separator), or an unquoted path without a known extension that goes
    on after a space (its first word ends in a folder, say a user's profile folder)."""
    text = (command or "").strip()
    if text.startswith('"'):
        program = text[1:].split('"', 1)[0]
    elif m := _PROGRAM.match(text):
        program = m.group(1)
    else:
        words = text.split(None, 2)
        program = words[0] if words else ""
        if len(words) > 1 and _is_path(program) and _is_path(words[1]):
            return ""
    if program.endswith(("\\", "/")):
        return ""
    name = program.replace("/", "\\").rsplit("\\", 1)[-1].strip()
    if not name or not name.isprintable():
        return ""
    return name[:MAX_NAME]


def _is_path(word: str) -> bool:
    return "\\" in word or "/" in word


def extension_name(guid: str | None) -> str:
    """Microsoft's name of a client-side extension, or ``{GUID}`` when it is not documented."""
    key = normalize_guid(guid)
    return CSE_NAMES.get(key) or (f"{{{key}}}"[:MAX_NAME] if key else "")


def _activity(event: WinEvent) -> str:
    return event.activity_id or normalize_guid(event.get("PolicyActivityId"))


def extensions(events: Sequence[WinEvent], activity: str) -> list[Contributor]:
    """The client-side extensions of the policy run ``activity`` (4001's ActivityID)."""
    if not activity:
        return []
    starts = {
        normalize_guid(e.get("CSEExtensionId")): e
        for e in events
        if e.event_id == 4016 and _activity(e) == activity
    }
    out = []
    for done in sorted(events, key=lambda e: e.time):
        if done.event_id not in EXTENSION_DONE or _activity(done) != activity:
            continue
        guid = normalize_guid(done.get("CSEExtensionId"))
        name = extension_name(guid)
        ms = parse_int(done.get("CSEElaspedTimeInMilliSeconds"))
        start = starts.get(guid)
        if ms is not None:
            seconds = ms / 1000.0
        elif start is not None and done.time >= start.time:
            seconds = done.time - start.time
        else:
            continue
        if name:
            out.append(Contributor("gp_extension", name, seconds))
    return out


def scripts(events: Sequence[WinEvent], activities: Collection[str]) -> list[Contributor]:
    """The logon scripts run in the script runs ``activities`` (the sign-in's 4018s)."""
    mine = [e for e in events if e.event_id in (4019, 5019) and _activity(e) in activities]
    mine.sort(key=lambda e: e.time)
    out = []
    used: set[int] = set()
    for end in (e for e in mine if e.event_id == 5019):
        script = end.get("ScriptName")
        start = next(
            (
                i
                for i, e in enumerate(mine)
                if e.event_id == 4019
                and i not in used
                and e.get("ScriptName") == script
                and _activity(e) == _activity(end)
                and e.time <= end.time
            ),
            None,
        )
        if start is not None:
            used.add(start)
            seconds: float | None = end.time - mine[start].time
        else:
            whole = parse_int(end.get("ScriptElaspedTimeInSeconds"))
            seconds = None if whole is None else float(whole)
        name = file_name(script).lower()
        if seconds is not None and name:
            out.append(Contributor("gp_script", name, seconds))
    return out


def startup_apps(
    events: Sequence[WinEvent], sid: str, in_window: Callable[[WinEvent], bool]
) -> list[Contributor]:
    """Run-key commands Explorer started for user ``sid`` in this sign-in, with how long
    each took to start (9707 → 9708 of the same command)."""
    starts = sorted(
        (e for e in events if e.event_id == 9707 and e.user_sid == sid and in_window(e)),
        key=lambda e: e.time,
    )
    ends = sorted(
        (e for e in events if e.event_id == 9708 and e.user_sid == sid), key=lambda e: e.time
    )
    out = []
    taken: set[int] = set()
    for start in starts:
        command = start.get("Command")
        end = next(
            (
                i
                for i, e in enumerate(ends)
                if i not in taken and e.get("Command") == command and e.time >= start.time
            ),
            None,
        )
        name = file_name(command).lower()
        if end is None or not name:
            continue
        taken.add(end)
        out.append(Contributor("startup_app", name, ends[end].time - start.time))
    return out


def profile(
    events: Iterable[WinEvent],
    sid: str,
    in_window: Callable[[WinEvent], bool],
    seconds: float | None,
) -> Contributor | None:
    """The profile contributor: its type from event 67, its seconds the profile phase."""
    if seconds is None:
        return None
    typed = min(
        (e for e in events if e.event_id == 67 and e.user_sid == sid and in_window(e)),
        key=lambda e: e.time,
        default=None,
    )
    if typed is None:
        return None
    name = PROFILE_TYPES.get((typed.get("ProfileType") or "").strip().casefold())
    return None if name is None else Contributor("profile", name, seconds)


def bounded(contributors: Iterable[Contributor]) -> tuple[Contributor, ...]:
    """The ``MAX_CONTRIBUTORS`` longest, negative durations dropped, in event order."""
    kept = [c for c in contributors if c.seconds >= 0]
    if len(kept) > MAX_CONTRIBUTORS:
        longest = sorted(range(len(kept)), key=lambda i: -kept[i].seconds)[:MAX_CONTRIBUTORS]
        kept = [kept[i] for i in sorted(longest)]
    return tuple(kept)
