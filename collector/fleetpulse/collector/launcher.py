"""The ``fleetpulse-collector`` console script: says in one line when the collector's
stack (the ``collector`` extra of the distribution) is not installed, then runs the CLI.

The endpoint agent installs without that stack, so the same distribution installed for an
agent has the ``fleetpulse-collector`` script but not what it needs.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

#: The import names of the ``collector`` extra's distributions (pyproject.toml).
STACK = ("prometheus_client", "psycopg", "bcrypt", "grpc_health", "numpy", "scipy")


def main() -> None:
    missing = [name for name in STACK if find_spec(name) is None]
    if missing:
        print(
            f"fleetpulse-collector: error: the collector's stack is not installed "
            f"({', '.join(missing)} missing): pip install 'fleetpulse[collector]'",
            file=sys.stderr,
        )
        sys.exit(1)
    from fleetpulse.collector.cli import main as cli_main

    cli_main()
