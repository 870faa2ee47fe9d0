"""The ``fleetpulse-agent`` console script.

``run`` (the service loop) starts through fleetpulse.agent.service with the standard
library's argparse, so the resident process never loads typer and click; every other
command, and ``run --help``, goes through the typer app in fleetpulse.agent.cli.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fleetpulse.agent.errors import AgentError
from fleetpulse.agent.service import LOG_FORMAT


def _run_options(argv: list[str]) -> argparse.Namespace | None:
    """``--state-dir D --config F`` of ``run``; None when anything else is given (the
    typer app then answers, with its help and its error messages)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--config", type=Path)
    opts, rest = parser.parse_known_args(argv)
    return None if rest else opts


def main() -> None:
    argv = sys.argv[1:]
    opts = _run_options(argv[1:]) if argv[:1] == ["run"] else None
    if opts is None:
        from fleetpulse.agent.cli import main as cli_main

        cli_main()
        return
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    from fleetpulse.agent.service import run_service

    try:
        code = run_service(opts.state_dir, opts.config)
    except AgentError as exc:
        print(f"fleetpulse-agent: error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)
