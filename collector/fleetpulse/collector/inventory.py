"""Reads an inventory CSV (an asset register export: columns ``hostname,site``) as a stream.

The file is read line by line in binary and each line decoded as UTF-8 on its own, so a
bad byte is reported at its line (a text-mode reader decodes ahead in 8 KiB blocks and
cannot say where) and memory stays bounded whatever the file's size. Quoted fields may span
lines (RFC 4180); the line number given is the physical line where the problem was found.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.validation import MAX_TEXT

#: Columns the header must name (other columns are ignored).
COLUMNS = ("hostname", "site")


class _Lines:
    """The file's lines decoded one by one; ``number`` is the last line handed out (1-based)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        with self.path.open("rb") as fh:
            for raw in fh:
                self.number += 1
                if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # the UTF-8 byte order mark spreadsheet exports write
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ConfigError(
                        f"{self.path}: line {self.number}: not valid UTF-8 "
                        f"(byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    ) from None


def _check(line: int, path: Path, name: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ConfigError(
            f"{path}: line {line}: {name} is longer than {MAX_TEXT} characters "
            "(no device reports a longer one)"
        )
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ConfigError(f"{path}: line {line}: {name} contains a control character")
    return value


def read_inventory(path: Path) -> Iterator[tuple[str, str]]:
    """Yields (hostname, site) per data row, stripped; rows missing either are skipped.

    Errors: ConfigError with a one-line message naming the file and line for an unreadable
    file, a missing header column, invalid UTF-8, a field over the csv module's limit
    (128 KiB) or over ``MAX_TEXT`` characters (the longest hostname or site a device may
    report, collector/validation.py), or a control character (NUL cannot be stored in
    PostgreSQL text)."""
    lines = _Lines(path)
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None or not set(COLUMNS) <= {h.strip() for h in header}:
            raise ConfigError(f"{path}: needs a header with columns hostname,site")
        names = [h.strip() for h in header]
        host_at, site_at = names.index("hostname"), names.index("site")
        for row in reader:
            if len(row) <= max(host_at, site_at):
                continue
            hostname = _check(lines.number, path, "hostname", row[host_at])
            site = _check(lines.number, path, "site", row[site_at])
            if hostname and site:
                yield hostname, site
    except csv.Error as exc:
        raise ConfigError(f"{path}: line {lines.number}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
