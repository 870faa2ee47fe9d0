"""Per-device gauges, pre-rendered once per fleet-state refresh (off the scrape path).

At 30,000 devices these are ~90,000 samples; building and formatting them with the metrics
library on every scrape costs about a second. They only change when the fleet state is
refreshed, so the text and its gzip are made then, and a scrape appends them as they are.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from fleetpulse.collector.model import FleetState

FAMILIES = (
    ("fleetpulse_device_last_login_seconds", "The device's latest sign-in duration.", 3),
    ("fleetpulse_device_last_boot_seconds", "The device's latest boot duration.", 4),
    ("fleetpulse_device_last_seen_timestamp_seconds", "When the device last reported.", 5),
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
    text = ("\n".join(lines) + "\n").encode("utf-8")
    return Rendered(text, gzip.compress(text, compresslevel=6))
