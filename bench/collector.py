"""The collector process the benchmarks start: this environment's ``fleetpulse-collector``."""

from __future__ import annotations

import sys
from pathlib import Path

#: The scripts of the environment running the benchmark (its fleetpulse-collector and -agent).
BIN = Path(sys.executable).parent


def serve_argv(db: str, *options: str, bin_dir: Path = BIN) -> list[str]:
    """``fleetpulse-collector serve`` of the environment whose scripts are in ``bin_dir``
    (default: this one) on ``db``, both ports picked by the system (read back from its
    start-up lines), with ``options`` after."""
    return [
        str(bin_dir / "fleetpulse-collector"),
        "serve",
        "--db",
        db,
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        *options,
    ]
