"""Running the service manager's commands (systemctl, schtasks, icacls, launchctl).

Every command goes through a runner: a callable taking an argv. The real one executes it;
``Recorder`` writes it down instead, as one JSON array per line, which is what tests and
image staging use (``FLEETPULSE_INSTALL_RECORD=FILE``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetpulse.agent.errors import ServiceError

Runner = Callable[[Sequence[str]], None]
RECORD_ENV = "FLEETPULSE_INSTALL_RECORD"


@dataclass(frozen=True, slots=True)
class Step:
    """One command; ``may_fail`` for those whose failure only means "already so"
    (stopping a task that is not running, unloading what is not loaded)."""

    argv: tuple[str, ...]
    may_fail: bool = False


def step(*argv: str, may_fail: bool = False) -> Step:
    return Step(tuple(argv), may_fail)


def run_steps(steps: Sequence[Step], runner: Runner) -> None:
    for s in steps:
        try:
            runner(s.argv)
        except ServiceError:
            if not s.may_fail:
                raise


def run_command(argv: Sequence[str], timeout: float = 120.0) -> None:
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else "no message"
        raise ServiceError(f"'{' '.join(argv)}' exited {done.returncode}: {why}")


class Recorder:
    """Records commands instead of running them; appends each to ``path`` if given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> None:
        self.calls.append(list(argv))
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(list(argv)) + "\n")

    @staticmethod
    def read(path: Path) -> list[list[str]]:
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [list(json.loads(line)) for line in lines if line]


def runner_from_env(environ: Mapping[str, str] | None = None) -> Runner:
    env = os.environ if environ is None else environ
    path = env.get(RECORD_ENV)
    return Recorder(Path(path)) if path else run_command
