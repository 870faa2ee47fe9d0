"""``devices`` never cuts a value: json carries every field whole and the table widens each
column to its longest value."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.fleet import enroll_hosts
from tests.procs import cli

LONG = "kiosk-lobby-east-wing-0042.branch-office.corp.example"
SITE = "north-east-regional-branch"


def test_json_keeps_long_hostnames_whole(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    [device_id] = enroll_hosts(db, SITE, [LONG])
    done = cli("fleetpulse-collector", "devices", "--format", "json", "--db", db)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["device_id"], row["hostname"], row["site"]) == (device_id, LONG, SITE)


def test_the_table_widens_to_the_longest_value(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    enroll_hosts(db, SITE, [LONG, "pc-1"])
    done = cli("fleetpulse-collector", "devices", "--db", db)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.rstrip("\n").splitlines()
    assert len(rows) == 2
    long_row = next(r for r in rows if LONG in r)
    short_row = next(r for r in rows if " pc-1 " in r)
    # columns line up: the site starts at the same place on every line
    assert header.index("SITE") == long_row.index(SITE) == short_row.index(SITE)
    assert f" {LONG} {SITE} " in long_row
    assert "unknown" in long_row  # no sign-in yet: p95 unknown, not 0


def test_a_hostile_hostname_neither_breaks_the_table_nor_drives_the_terminal(
    tmp_path: Path,
) -> None:
    # Agents name themselves: a newline would start a fake row, an OSC sequence (which
    # click does not strip on a pipe) retitles the reader's terminal.
    db = f"sqlite:///{tmp_path / 'c.db'}"
    enroll_hosts(db, SITE, ["pc-1\nfake-row", "pc-2\x1b]0;owned\x07\u202e"])
    done = cli("fleetpulse-collector", "devices", "--db", db)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.rstrip("\n").splitlines()
    assert len(rows) == 2
    assert not [c for c in done.stdout if not c.isprintable() and c != "\n"]
    assert any(" pc-1 fake-row " in r for r in rows)
    assert header.index("SITE") == rows[0].index(SITE) == rows[1].index(SITE)
