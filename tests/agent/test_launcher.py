"""``fleetpulse-agent run`` and ``foreground`` start without the command-line framework;
everything else, ``run --help`` included, is the typer app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import cli


@pytest.mark.parametrize(
    ("imports", "absent"),
    [
        ("from fleetpulse.agent import launcher, service\n"
         "from fleetpulse.agent.runner import Agent", "'typer', 'click', 'rich'"),
        # the per-user helper, resident in every session, carries no gRPC either
        ("from fleetpulse.agent import launcher, helper", "'typer', 'click', 'rich', 'grpc'"),
    ],
)  # fmt: skip
def test_the_resident_paths_load_no_cli_framework(imports: str, absent: str) -> None:
    probe = f"import sys\n{imports}\nprint(sorted(m for m in ({absent}) if m in sys.modules))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_run_errors_are_one_line_on_both_paths(tmp_path: Path) -> None:
    fast = cli("fleetpulse-agent", "run", "--state-dir", str(tmp_path / "none"))
    assert fast.returncode == 1 and "Traceback" not in fast.stderr
    [line] = fast.stderr.strip().splitlines()
    assert line.startswith("fleetpulse-agent: error: ") and "not enrolled" in line
    # an option run does not have goes to the typer app, which names it
    other = cli("fleetpulse-agent", "run", "--bogus")
    assert other.returncode == 2 and "--bogus" in other.stderr


def test_run_help_is_the_typer_help() -> None:
    done = cli("fleetpulse-agent", "run", "--help")
    assert done.returncode == 0
    assert "--state-dir" in done.stdout and "--config" in done.stdout
