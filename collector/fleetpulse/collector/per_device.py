"""Per-device gauges, pre-rendered once per fleet-state refresh (off the scrape path).

At 30,000 devices these are ~90,000 samples, and at most PER_DEVICE_CONTRIBUTORS more per
device (the largest contributors of its latest sign-in); building and formatting them with
the metrics library on every scrape costs about a second. They only change when the fleet state is
refreshed, so the text and its gzip are made then, and a scrape appends them as they are.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from fleetpulse.collector.model import PER_DEVICE_CONTRIBUTORS, FleetState

FAMILIES = (
    ("fleetpulse_device_last_login_seconds", "The device's latest sign-in duration.", 3),
    ("fleetpulse_device_last_boot_seconds", "The device's latest boot duration.", 4),
    ("fleetpulse_device_last_seen_timestamp_seconds", "When the device last reported.", 5),
)

CONTRIBUTORS = "fleetpulse_device_last_login_contributor_seconds"
CONTRIBUTORS_HELP = (
    f"Seconds of the device's latest sign-in that went to each of its {PER_DEVICE_CONTRIBUTORS} "
    "largest named contributors (group policy extension, logon script, startup application, "
    "profile type), by kind and name."
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Rendered:
    text: bytes = b""
    gzipped: bytes = b""


def render(state: FleetState) -> Rendered:
    """Exposition text (format 0.0.4) of the per-device gauges, and the same gzipped as one
    gzip member (a scrape's gzip body is its members concatenated)."""
    labels = [
        f'device_id="{_escape(d)}",hostname="{_escape(h)}",site="{_escape(s)}"'
        for d, h, s, *_ in state.per_device
    ]
    lines: list[str] = []
    for name, doc, column in FAMILIES:
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} gauge")
        for row, label in zip(state.per_device, labels, strict=True):
            value = row[column]
            if isinstance(value, int | float):  # unknown values are absent, never 0
                lines.append(f"{name}{{{label}}} {_number(value)}")
    lines.append(f"# HELP {CONTRIBUTORS} {CONTRIBUTORS_HELP}")
    lines.append(f"# TYPE {CONTRIBUTORS} gauge")
    for c in state.per_device_contributors:
        lines.append(
            f'{CONTRIBUTORS}{{device_id="{_escape(c.device_id)}",hostname="{_escape(c.hostname)}",'
            f'site="{_escape(c.site)}",kind="{_escape(c.kind)}",name="{_escape(c.name)}"}} '
            f"{_number(c.seconds)}"
        )
    text = ("\n".join(lines) + "\n").encode("utf-8")
    return Rendered(text, gzip.compress(text, compresslevel=6))
