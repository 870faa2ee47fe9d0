"""Pure parsers for ``wevtutil qe <log> /f:xml`` output: text in, typed events out.

wevtutil prints events back to back with no root element, so each ``<Event>`` is cut out
and parsed on its own: one truncated or garbled event is skipped (and counted) without
losing its neighbours. Fields are read by name, from ``<EventData>`` or ``<UserData>``.
"""

from __future__ import annotations

import calendar
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleetpulse.agent.platform.env import Problems

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
_Q = "{" + NS + "}"

# "<Event" followed by whitespace or ">" starts an event; "<EventData>" and friends do not.
_EVENT_START = re.compile(r"<Event(?=[\s>])")
_EVENT_END = "</Event>"
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]00:?00)?\s*$"
)


@dataclass(frozen=True, slots=True)
class WinEvent:
    """One event record: the ``<System>`` header plus its named data fields."""

    provider: str
    event_id: int
    time: float
    record_id: int | None = None
    activity_id: str = ""
    user_sid: str = ""
    computer: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    #: ``<Data>`` elements without a Name attribute (classic providers), in order.
    positional: tuple[str, ...] = ()

    def get(self, name: str) -> str | None:
        """A field's text, or ``None`` when the event does not carry it."""
        return self.data.get(name)


def parse_time(text: str | None) -> float | None:
    """An ISO-8601 UTC time as wevtutil renders it (``2026-03-02T08:15:04.1234567Z``,
    any number of fraction digits) to epoch seconds; ``None`` if it is not one."""
    if not text:
        return None
    m = _ISO.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= 31
        and hour < 24
        and minute < 60
        and second < 61
    ):
        return None  # timegm would silently roll these over into another date
    whole = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = m.group(7)
    return whole + (float("0." + fraction) if fraction else 0.0)


def format_time(epoch: float) -> str:
    """Epoch seconds as the ``SystemTime`` form XPath queries compare against."""
    whole = int(epoch)
    millis = round((epoch - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def parse_int(text: str | None) -> int | None:
    """Decimal or ``0x``-hex integer (wevtutil renders HexInt32 fields as ``0x..``)."""
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def parse_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return None


def normalize_guid(text: str | None) -> str:
    """``{aBc-...}`` → ``ABC-...`` so ActivityIDs compare equal however they are cased."""
    return (text or "").strip().strip("{}").upper()


def split_events(text: str) -> list[str]:
    """Cuts wevtutil's rootless output into one string per ``<Event>`` element."""
    starts = [m.start() for m in _EVENT_START.finditer(text)]
    chunks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunks.append(text[start:end].strip())
    return chunks


def parse_events(text: str, source: str, problems: Problems) -> list[WinEvent]:
    """Every well-formed event in ``text``; each malformed one is skipped and counted."""
    if not text.strip():
        return []
    chunks = split_events(text)
    if not chunks:
        problems.skip(source, "output holds no <Event> element")
        return []
    events = []
    for chunk in chunks:
        event = _parse_one(chunk, source, problems)
        if event is not None:
            events.append(event)
    return events


def _parse_one(chunk: str, source: str, problems: Problems) -> WinEvent | None:
    end = chunk.rfind(_EVENT_END)
    if end < 0:
        problems.skip(source, "truncated event (no </Event>)")
        return None
    try:
        root = ET.fromstring(chunk[: end + len(_EVENT_END)])
    except (ET.ParseError, ValueError) as exc:
        # ValueError covers UnicodeEncodeError from lone surrogates in the decoded text.
        problems.skip(source, f"unparseable event XML: {exc}")
        return None
    system = _child(root, "System")
    if system is None:
        problems.skip(source, "event without <System>")
        return None
    event_id = parse_int(_text(_child(system, "EventID")))
    created = _child(system, "TimeCreated")
    when = parse_time(created.get("SystemTime") if created is not None else None)
    if event_id is None or when is None:
        problems.skip(source, "event without a valid EventID or TimeCreated")
        return None
    provider = _child(system, "Provider")
    correlation = _child(system, "Correlation")
    security = _child(system, "Security")
    data, positional = _fields(root)
    return WinEvent(
        provider=(provider.get("Name", "") if provider is not None else ""),
        event_id=event_id,
        time=when,
        record_id=parse_int(_text(_child(system, "EventRecordID"))),
        activity_id=normalize_guid(
            correlation.get("ActivityID") if correlation is not None else None
        ),
        user_sid=(security.get("UserID", "") if security is not None else ""),
        computer=_text(_child(system, "Computer")) or "",
        data=data,
        positional=tuple(positional),
    )


def _fields(root: ET.Element) -> tuple[dict[str, str], list[str]]:
    data: dict[str, str] = {}
    positional: list[str] = []
    event_data = _child(root, "EventData")
    if event_data is not None:
        for item in event_data:
            if _local(item.tag) != "Data":
                continue
            name = item.get("Name")
            value = (item.text or "").strip()
            if name:
                data[name] = value
            else:
                positional.append(value)
    user_data = _child(root, "UserData")
    if user_data is not None:
        # UserData holds one provider-defined element; its leaves are the fields.
        for leaf in _leaves(user_data):
            data.setdefault(_local(leaf.tag), (leaf.text or "").strip())
    return data, positional


def _leaves(element: ET.Element) -> Iterable[ET.Element]:
    for child in element:
        if len(child):
            yield from _leaves(child)
        else:
            yield child


def _child(element: ET.Element, name: str) -> ET.Element | None:
    found = element.find(_Q + name)
    return found if found is not None else element.find(name)


def _text(element: ET.Element | None) -> str | None:
    return element.text.strip() if element is not None and element.text else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
