"""The ``fleetpulse-agent`` console script.

``run`` (the service loop) and ``foreground`` (the per-user helper) start through
fleetpulse.agent.service and fleetpulse.agent.helper with the standard library's argparse,
so the resident processes never load typer and click; every other command, and
``run --help``, goes through the typer app in fleetpulse.agent.cli.

Those one-shot commands answer every failure in one line of their own, so gRPC core's log
lines (``E1201 ... ssl_transport_security.cc ...``) are silenced for them: the core reads
``GRPC_VERBOSITY`` once, when grpc is imported (gRPC doc/environment_variables.md), so it is
set before anything imports grpc; a value already in the environment is kept, for debugging.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from fleetpulse.agent.errors import AgentError


def _run_options(argv: list[str]) -> argparse.Namespace | None:
    """``--state-dir D --config F`` of ``run``; None when anything else is given (the
    typer app then answers, with its help and its error messages)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--config", type=Path)
    opts, rest = parser.parse_known_args(argv)
    return None if rest else opts


def _foreground_options(argv: list[str]) -> argparse.Namespace | None:
    """``--state-dir D --flush-seconds S`` of ``foreground``; None as in _run_options."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--flush-seconds", type=float)
    try:
        opts, rest = parser.parse_known_args(argv)
    except SystemExit:  # a value argparse cannot convert: typer says why
        return None
    return None if rest else opts


def _foreground(opts: argparse.Namespace) -> int:
    from fleetpulse.agent.config import default_state_dir
    from fleetpulse.agent.helper import run_helper
    from fleetpulse.agent.sources.foreground import FLUSH_SECONDS

    flush = FLUSH_SECONDS if opts.flush_seconds is None else opts.flush_seconds
    return run_helper(opts.state_dir or default_state_dir(), flush)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["foreground"] and (helper := _foreground_options(argv[1:])) is not None:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            sys.exit(_foreground(helper))
        except AgentError as exc:
            print(f"fleetpulse-agent: error: {exc}", file=sys.stderr)
            sys.exit(1)
    opts = _run_options(argv[1:]) if argv[:1] == ["run"] else None
    if opts is None:
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        from fleetpulse.agent.cli import main as cli_main

        cli_main()
        return
    from fleetpulse.agent.service import LOG_FORMAT, run_service

    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)

    try:
        code = run_service(opts.state_dir, opts.config)
    except AgentError as exc:
        print(f"fleetpulse-agent: error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)
