"""The single-file agent: built by scripts/build-agent, run by a Python that has none of the
project's dependencies, enrolling and reporting to a real collector, and installing itself."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetpulse.agent.install.commands import RECORD_ENV, Recorder
from fleetpulse.agent.install.program import system_python
from tests.e2e.test_pipeline import stored, wait_for
from tests.procs import CollectorProc, cli, start_collector

REPO = Path(__file__).resolve().parents[2]
#: the interpreter the venv was made from: without grpc, psutil or the project installed
BARE_PYTHON = getattr(sys, "_base_executable", sys.executable)
#: what the unit runs: BARE_PYTHON, or /usr/bin/pythonX.Y when that is under a home directory
SERVICE_PYTHON = system_python(BARE_PYTHON)

pytestmark = pytest.mark.slow  # builds the artifact (pip install of every dependency)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "fleetpulse-agent.pyz"
    done = subprocess.run(
        [str(REPO / "scripts" / "build-agent"), str(out)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith(f"built {out} (")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert "site-packages/fleetpulse/agent/cli.py" in names and "__main__.py" in names
    # the endpoint artifact carries the agent's dependencies only, not the collector's stack
    tops = {n.split("/")[1] for n in names if n.startswith("site-packages/") and "/" in n[14:]}
    unwanted = {"psycopg", "psycopg_binary", "bcrypt", "prometheus_client", "grpc_health",
                "rich", "pygments", "pydantic", "pydantic_core", "numpy", "scipy"}  # fmt: skip
    assert not tops & unwanted, sorted(tops & unwanted)
    return out


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    yield c
    c.stop()


def pyz_env(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    clean["SHIV_ROOT"] = str(tmp_path / "shiv")  # where the zipapp extracts itself
    return {**clean, **(env or {})}


def run_pyz(
    artifact: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BARE_PYTHON, "-I", str(artifact), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=pyz_env(tmp_path, env),
        check=False,
    )


def test_bare_python_cannot_import_the_agent() -> None:
    done = subprocess.run(
        [BARE_PYTHON, "-I", "-c", "import grpc"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0  # so what follows runs on the artifact's own libraries


def test_artifact_enrolls_and_reports(
    artifact: Path, collector: CollectorProc, tmp_path: Path
) -> None:
    token = cli(
        "fleetpulse-collector", "token", "create", "--site", "hq", "--db", collector.db
    ).stdout.strip()
    state = tmp_path / "agent"
    enrolled = run_pyz(
        artifact,
        tmp_path,
        "enroll",
        "--collector",
        collector.grpc,
        "--token",
        token,
        "--state-dir",
        str(state),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    (state / "config.toml").write_text("boot_settle_seconds = 0\n")
    once = run_pyz(artifact, tmp_path, "once", "--state-dir", str(state), "--json")
    assert once.returncode == 0, once.stderr
    measured = json.loads(once.stdout)
    assert [m["kind"] for m in measured].count("boot") == 1
    boot = next(m for m in measured if m["kind"] == "boot")
    with sqlite3.connect(collector.db.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT boot_id FROM boots").fetchall()
    assert rows == [(boot["boot_id"],)]


def test_artifact_runs_the_service_loop(
    artifact: Path, collector: CollectorProc, tmp_path: Path
) -> None:
    token = cli(
        "fleetpulse-collector", "token", "create", "--site", "hq", "--db", collector.db
    ).stdout.strip()
    state = tmp_path / "agent"
    enrolled = run_pyz(
        artifact, tmp_path, "enroll", "--collector", collector.grpc, "--token", token,
        "--state-dir", str(state),
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    (state / "config.toml").write_text("report_interval_seconds = 1\nboot_settle_seconds = 0\n")
    with open(tmp_path / "run.log", "w") as log:
        agent = subprocess.Popen(
            [BARE_PYTHON, "-I", str(artifact), "run", "--state-dir", str(state)],
            stderr=log, cwd=tmp_path, env=pyz_env(tmp_path),
        )  # fmt: skip
    try:
        assert wait_for(lambda: stored(collector.db, "device_health") == 1, timeout=60)
        assert stored(collector.db, "boots") == 1
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=30)
    assert code == 0, (tmp_path / "run.log").read_text()[-2000:]


def test_artifact_installs_unpacked_and_uninstalls(
    artifact: Path, collector: CollectorProc, tmp_path: Path
) -> None:
    token = cli(
        "fleetpulse-collector", "token", "create", "--site", "hq", "--db", collector.db
    ).stdout.strip()
    root, record = tmp_path / "root", tmp_path / "commands.jsonl"
    root.mkdir()

    def install() -> subprocess.CompletedProcess[str]:
        return run_pyz(
            artifact,
            tmp_path,
            "install",
            "--collector",
            collector.grpc,
            "--token",
            token,
            "--root",
            str(root),
            env={RECORD_ENV: str(record)},
        )

    done = install()
    assert done.returncode == 0, done.stderr
    launcher = root / "usr/local/lib/fleetpulse/fleetpulse-agent.py"
    state = root / "var/lib/fleetpulse"
    unit = (root / "etc/systemd/system/fleetpulse-agent.service").read_text().splitlines()
    assert f"ExecStart={SERVICE_PYTHON} -I {launcher} run --state-dir {state}" in unit
    assert Recorder.read(record)[-1] == ["systemctl", "restart", "fleetpulse-agent.service"]

    # what the service will run: the unpacked agent, without the artifact or a venv
    status = subprocess.run(
        [BARE_PYTHON, "-I", str(launcher), "status", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    device = json.loads((state / "credentials.json").read_text())["device_id"]
    assert f"device:    {device} (site hq)" in status.stdout

    again = install()
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stderr

    gone = subprocess.run(
        [BARE_PYTHON, "-I", str(launcher), "uninstall", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, RECORD_ENV: str(record)},
    )
    assert gone.returncode == 0, gone.stderr
    assert list(root.iterdir()) == []
