"""The wheel ships every module of the code, the report's included: a module missing from
the distribution works in an editable install but breaks ``fleetpulse-collector`` (which
imports the report) when installed from a wheel. Nothing lands at the top of site-packages
but the ``fleetpulse`` namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = ("agent", "collector", "protos", "sim")


def test_the_wheel_holds_every_module_under_the_fleetpulse_namespace(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = tmp_path.glob("fleetpulse-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.endswith((".py", ".pyi", ".sql"))}
    on_disk = {
        str(path.relative_to(ROOT / top))
        for top in SOURCE_ROOTS
        for path in (ROOT / top / "fleetpulse").rglob("*")
        if path.suffix in (".py", ".pyi", ".sql")
    }
    assert "fleetpulse/collector/report/__init__.py" in on_disk
    assert on_disk == shipped, (sorted(on_disk - shipped), sorted(shipped - on_disk))
    tops = {n.split("/", 1)[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert tops == {
        "fleetpulse",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
