"""The distribution ships every package of the code, the report's included: pyproject lists
packages explicitly, and a package missing there works in an editable install but breaks
``fleetpulse-collector`` (which imports the report) when installed from a wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_code_package_is_in_the_distribution() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("agent", "collector")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert "collector.report" in on_disk
    assert on_disk <= listed, sorted(on_disk - listed)
