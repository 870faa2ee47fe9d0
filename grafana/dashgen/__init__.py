"""Generates the fleetpulse Grafana dashboards (grafana/dashboards/*.json).

The JSON files are committed; ``python -m grafana.dashgen`` rewrites them from these
modules and ``--check`` fails if they differ (tests/grafana runs the check).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from . import applications, boot, device, fleet_overview, rollout, signin_sla
from .model import Json

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboards"

BOARDS: dict[str, Callable[[], Json]] = {
    "fleet-overview.json": fleet_overview.build,
    "signin-sla.json": signin_sla.build,
    "boot.json": boot.build,
    "applications.json": applications.build,
    "rollout.json": rollout.build,
    "device.json": device.build,
}


def render_all() -> dict[str, str]:
    """File name -> dashboard JSON text, exactly as committed."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in BOARDS.items()
    }


def stale_files(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Dashboards whose file is missing or differs from what the generator renders."""
    return [
        name
        for name, text in render_all().items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]


def write_all(directory: Path = DASHBOARD_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (directory / name).write_text(text, encoding="utf-8")
    return sorted(BOARDS)
