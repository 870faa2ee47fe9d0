"""Reading an enrollment token from a file or standard input, so that it never appears on
a command line (any local user can read another process's arguments: ``ps -ef`` on Linux
and macOS, ``Get-CimInstance Win32_Process`` on Windows)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from fleetpulse.agent.errors import ConfigError

STDIN = "-"


def read_token(source: str, stdin: TextIO | None = None) -> str:
    """The token in file ``source`` (``-``: standard input): its first non-empty line,
    surrounding whitespace removed.

    Raises ConfigError (one line, naming the file) when it cannot be read or holds no token."""
    where = "standard input" if source == STDIN else source
    try:
        if source == STDIN:
            text = (stdin or sys.stdin).read()
        else:
            text = Path(source).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the token file {where} is not UTF-8 text") from None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise ConfigError(f"no token in {where}")


def choose_token(token: str | None, token_file: str | None) -> str:
    """Exactly one of ``--token`` and ``--token-file``; raises ConfigError otherwise."""
    if token is not None and token_file is not None:
        raise ConfigError("give --token or --token-file, not both")
    if token_file is not None:
        return read_token(token_file)
    if token is None or not token.strip():
        raise ConfigError("an enrollment token is needed: --token-file FILE (or - for stdin)")
    return token.strip()
