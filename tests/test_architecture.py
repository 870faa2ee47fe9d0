"""The architecture as tests: the import contracts of pyproject.toml hold (import-linter),
the checker does see this namespace layout's imports (a contract that must break does), and
only ``fleetpulse.*`` is importable from outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_every_import_contract_is_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    done = _lint(ROOT / "pyproject.toml", ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout


def test_a_contract_the_code_breaks_is_reported_broken(tmp_path: Path) -> None:
    # the simulator imports both sides: declaring it independent of the agent must fail,
    # which proves the checker reads the imports of all four source roots
    config = tmp_path / "broken.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["fleetpulse.agent", "fleetpulse.sim"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "sim does not use the agent"\n'
        'type = "forbidden"\n'
        'source_modules = ["fleetpulse.sim"]\n'
        'forbidden_modules = ["fleetpulse.agent"]\n'
    )
    done = _lint(config, ROOT)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "BROKEN" in done.stdout and "fleetpulse.sim.cli -> fleetpulse.agent" in done.stdout


def test_only_the_fleetpulse_namespace_is_importable(tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u\n"
        "print([n for n in ('agent', 'collector', 'sim', 'contract') if u.find_spec(n)])\n"
        "import fleetpulse.agent.cli, fleetpulse.collector.cli, fleetpulse.contract.serde\n"
        "import fleetpulse.sim.cli, fleetpulse.v1.telemetry_pb2\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
