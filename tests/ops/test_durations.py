"""Every duration option of the collector's CLI needs a unit: a bare number is refused with
one line naming the option (``--expires 7`` used to mean seven seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpulse.collector.durations import parse_duration
from fleetpulse.collector.errors import ConfigError
from tests.procs import cli


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["token", "create", "--site", "north", "--expires", "7"], "--expires"),
        (["devices", "--silent-for", "24"], "--silent-for"),
        (["report", "--since", "28"], "28"),
    ],
    ids=["expires", "silent-for", "report-since"],
)
def test_a_bare_number_is_refused_in_one_line(tmp_path: Path, args: list[str], option: str) -> None:
    done = cli("fleetpulse-collector", *args, "--db", f"sqlite:///{tmp_path / 'c.db'}")
    assert done.returncode == 1, done.stdout
    [line] = done.stderr.strip().splitlines()
    assert "has no unit" in line and option in line, line
    assert done.stdout == ""


def test_no_token_is_created_for_a_bare_number(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    cli("fleetpulse-collector", "token", "create", "--site", "n", "--expires", "7", "--db", db)
    listed = cli("fleetpulse-collector", "token", "list", "--db", db)
    assert listed.stdout.strip().splitlines()[1:] == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7", "7 ", "0.5", "soon", "7y", "-1d", ""])
def test_not_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text, "--expires")
