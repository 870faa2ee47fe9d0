"""Reads an inventory CSV (an asset register export: columns ``hostname,site``) as a stream.

Header names are matched ignoring case and surrounding blanks (``Hostname,Site`` as
spreadsheet exports write them); other columns are ignored. Rows that give no device (blank
lines, a row without a hostname or without a site) are skipped and counted in a ``Skipped``
tally the caller shows, never dropped silently.

The file is read line by line in binary and each line decoded as UTF-8 on its own, so a
bad byte is reported at its line (a text-mode reader decodes ahead in 8 KiB blocks and
cannot say where) and memory stays bounded whatever the file's size. Quoted fields may span
lines (RFC 4180); the line number given is the physical line where the problem was found.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.validation import MAX_TEXT

#: Columns the header must name (other columns are ignored).
COLUMNS = ("hostname", "site")


@dataclass
class Skipped:
    """Rows read but not imported: ``blank`` (every field empty, e.g. a blank line) and
    ``incomplete`` (no hostname or no site); ``lines`` holds the first few physical line
    numbers of incomplete rows, to show."""

    blank: int = 0
    incomplete: int = 0
    lines: list[int] = field(default_factory=list)

    SHOWN = 5

    @property
    def total(self) -> int:
        return self.blank + self.incomplete

    def describe(self) -> str:
        """One line for the operator, e.g. ``skipped 3 row(s): 2 blank, 1 without hostname
        or site (line 7)``; empty when nothing was skipped."""
        if not self.total:
            return ""
        parts = []
        if self.blank:
            parts.append(f"{self.blank} blank")
        if self.incomplete:
            where = ", ".join(str(n) for n in self.lines)
            more = ", ..." if self.incomplete > len(self.lines) else ""
            parts.append(
                f"{self.incomplete} without hostname or site "
                f"(line{'s' if self.incomplete > 1 else ''} {where}{more})"
            )
        return f"skipped {self.total} row(s): " + ", ".join(parts)

    def add_incomplete(self, line: int) -> None:
        self.incomplete += 1
        if len(self.lines) < self.SHOWN:
            self.lines.append(line)


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


def read_inventory(path: Path, skipped: Skipped | None = None) -> Iterator[tuple[str, str]]:
    """Yields (hostname, site) per data row, stripped; rows missing either are skipped and
    counted in ``skipped`` (when given). Header names are matched ignoring case.

    Errors: ConfigError with a one-line message naming the file and line for an unreadable
    file, a missing header column, invalid UTF-8, a field over the csv module's limit
    (128 KiB) or over ``MAX_TEXT`` characters (the longest hostname or site a device may
    report, collector/validation.py), or a control character (NUL cannot be stored in
    PostgreSQL text)."""
    lines = _Lines(path)
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
        names = [h.strip().casefold() for h in header or ()]
        if not set(COLUMNS) <= set(names):
            raise ConfigError(
                f"{path}: needs a header with columns hostname,site (any case), "
                f"got {','.join(h.strip() for h in header or ())!r}"
            )
        host_at, site_at = names.index("hostname"), names.index("site")
        tally = skipped if skipped is not None else Skipped()
        for row in reader:
            if not any(f.strip() for f in row):
                tally.blank += 1
                continue
            if len(row) <= max(host_at, site_at):
                tally.add_incomplete(lines.number)
                continue
            hostname = _check(lines.number, path, "hostname", row[host_at])
            site = _check(lines.number, path, "site", row[site_at])
            if hostname and site:
                yield hostname, site
            else:
                tally.add_incomplete(lines.number)
    except csv.Error as exc:
        raise ConfigError(f"{path}: line {lines.number}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
