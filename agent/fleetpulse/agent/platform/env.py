"""The OS boundaries a platform backend touches, injectable so tests replay recordings."""

from __future__ import annotations

import logging
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

from fleetpulse.agent.errors import SourceUnavailable

log = logging.getLogger("fleetpulse.agent.platform")


def run_command(argv: Sequence[str], timeout: float = 20.0) -> str:
    """Runs a command and returns its stdout; a missing or failing command is unavailable."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceUnavailable(f"{argv[0]} exited {done.returncode}: {err[-1] if err else ''}")
    return done.stdout.decode("utf-8", "replace")


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@dataclass
class Problems:
    """Counts inputs that were skipped as malformed or implausible, each logged with its
    reason."""

    counts: Counter[str] = field(default_factory=Counter)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def skip(self, source: str, reason: str) -> None:
        self.counts[source] += 1
        log.warning("skipped malformed %s input: %s", source, reason)

    def once(self, source: str, reason: str) -> None:
        """Like ``skip``, but a reason already counted is not counted again: a value that is
        measured every cycle is one problem, not one per cycle."""
        if (source, reason) in self._seen:
            return
        self._seen.add((source, reason))
        self.counts[source] += 1
        log.warning("%s value is unknown: %s", source, reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Env:
    """Everything a backend reads from the machine. Defaults are the real ones."""

    run: Callable[[Sequence[str]], str] = run_command
    read_bytes: Callable[[str], bytes] = read_bytes
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    ps: ModuleType | Any = psutil
    problems: Problems = field(default_factory=Problems)
    #: The agent's state directory; ``session-ready`` markers live in ``<state_dir>/ready/``,
    #: the per-user helper's foreground seconds in ``<state_dir>/foreground/``.
    state_dir: str | None = None
    #: The directory sysfs and procfs trees are walked under (linux_disk); tests give a
    #: recorded tree.
    root: str = "/"
