"""Journal export lines (``journalctl -o json``) to field dicts, and coredump entries to crashes.

Nothing here touches the OS; the caller runs journalctl and hands over its stdout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from fleetpulse.agent.platform.env import Problems
from fleetpulse.contract.records import Crash

SOURCE = "journal"
#: systemd-coredump's "Process ... dumped core" catalog entry.
COREDUMP_MESSAGE_ID = "fc2e22bc6ee647b6b90729ab34a250b1"

_USEC = 1_000_000
_DIGITS = re.compile(r"[0-9]+")
#: What U+FFFD marks: bytes that were not UTF-8 before the command runner decoded them.
_REPLACEMENT = "\ufffd"


def _field(value: object) -> str | None:
    """One exported field value as text; ``None`` when it is not valid UTF-8 text.

    journalctl writes a non-UTF-8 value as an array of byte values, a field that occurs
    several times as an array of values, and a value too large to show as null.
    """
    if isinstance(value, str):
        return None if _REPLACEMENT in value else value
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return None
        return _field(value[0])
    return None


def parse_entries(text: str, problems: Problems, source: str = SOURCE) -> list[dict[str, str]]:
    """Each JSON line to ``{field: text}``; lines that are not a JSON object are skipped.

    A field whose value is not valid UTF-8 is left out: the entry's consumer decides
    whether the fields that remain are enough.
    """
    entries: list[dict[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("-- "):  # "-- No entries --" and similar notes
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.skip(source, f"not a JSON line ({exc}): {line[:80]!r}")
            continue
        if not isinstance(obj, dict):
            problems.skip(source, f"not a JSON object: {line[:80]!r}")
            continue
        fields = {str(k): v for k, raw in obj.items() if (v := _field(raw)) is not None}
        entries.append(fields)
    return entries


def usec_field(entry: Mapping[str, str], name: str) -> float | None:
    """A µs timestamp field as Unix seconds; ``None`` when absent, zero or not a number."""
    raw = entry.get(name, "")
    if not _DIGITS.fullmatch(raw) or int(raw) == 0:
        return None
    return int(raw) / _USEC


def app_name(exe: str) -> str:
    """The executable's base name only: paths never leave the device."""
    name = exe.strip()
    if name.endswith(" (deleted)"):  # the binary was replaced while it ran
        name = name[: -len(" (deleted)")]
    return name.rstrip("/").rsplit("/", 1)[-1]


def coredump_crashes(
    entries: Iterable[Mapping[str, str]], since: float, problems: Problems
) -> list[Crash]:
    """systemd-coredump entries logged at or after ``since`` as crashes.

    The window is on the journal's own time (what ``journalctl --since`` filters on),
    so a crash logged just after a window closed is counted in the next one; the
    reported time is the crash itself (COREDUMP_TIMESTAMP) where given.
    """
    crashes: list[Crash] = []
    for entry in entries:
        if entry.get("MESSAGE_ID") != COREDUMP_MESSAGE_ID:
            continue
        logged = usec_field(entry, "__REALTIME_TIMESTAMP")
        exe = entry.get("COREDUMP_EXE") or entry.get("COREDUMP_COMM") or ""
        name = app_name(exe)
        if logged is None or not name:
            problems.skip(SOURCE, f"coredump entry without time or executable: {sorted(entry)}")
            continue
        if logged < since:
            continue
        at = usec_field(entry, "COREDUMP_TIMESTAMP") or logged
        crashes.append(Crash(app=name, at=at))
    return crashes
