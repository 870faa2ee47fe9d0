"""Data links between boards: from a device in a table to the Device board."""

from __future__ import annotations

from .model import Json

DEVICE_BOARD = "/d/fleetpulse-device/fleetpulse-device"


def device_link(column: str) -> Json:
    """A field override making ``column`` of a table (with hostname, site and device_id
    columns) open the Device board on that device, keeping the time range."""
    url = (
        f"{DEVICE_BOARD}?var-site=${{__data.fields.site}}"
        "&var-hostname=${__data.fields.hostname}"
        "&var-device_id=${__data.fields.device_id}&${__url_time_range}"
    )
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "links", "value": [{"title": "Open on the Device board", "url": url}]}
        ],
    }
