"""``fleetpulse-collector report`` as a process: user errors are one line and exit 1; the
boundaries that are valid are accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetpulse.collector.store.base import open_store
from tests.procs import cli


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = open_store(url)
    store.migrate()
    store.close()
    return url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--since", "soon"],
            "--since must be DATE, DATE'T'HH:MM[:SS] (UTC), a duration before"
            " now such as 28d, or now, got 'soon'",
        ),
        (["--since", "2026-02-30"], "--since: no such date or time: '2026-02-30'"),
        (["--until", "tomorrow"], "--until must be DATE"),
        (
            ["--since", "2026-10-28", "--until", "2026-10-01"],
            "--since/--until: the period is empty or reversed: '2026-10-28..2026-10-01'",
        ),
        (
            ["--compare", "2026-10-01..2026-10-28", "2026-11-01.."],
            "--compare AFTER must be START..END or START",
        ),
        (
            ["--compare", "2026-10-28..2026-10-01", "28d"],
            "--compare BEFORE: the period is empty or reversed",
        ),
        (["--compare", "last-month", "28d"], "--compare BEFORE must be DATE"),
        (
            ["--compare", "56d..28d", "28d", "--since", "7d"],
            "--compare takes its own two periods: drop --since/--until",
        ),
        (["--since", "0d"], "--since must be a positive duration"),
        (["--format", "pdf"], "--format must be one of md, html, json, csv, got 'pdf'"),
        (["--target", "0"], "--target must be a share in (0, 1]"),
        (["--target", "1.5"], "--target must be a share in (0, 1]"),
        (["--target", "-0.2"], "--target must be a share in (0, 1]"),
        (["--target", "nan"], "--target must be a share in (0, 1]"),
        (["--slo", "0"], "--slo must be a positive number of seconds"),
        (["--out", "{tmp}/no/such/dir/r.md"], "cannot write"),
    ],
)
def test_user_errors_are_one_line_exit_1(
    db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    done = cli(
        "fleetpulse-collector",
        "report",
        "--db",
        db,
        *[a.replace("{tmp}", str(tmp_path)) for a in args],
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("fleetpulse-collector: error: ")
    assert message in lines[0]
    assert done.stdout == ""


def test_a_missing_sqlite_file_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    done = cli("fleetpulse-collector", "report", "--db", f"sqlite:///{missing}")
    assert done.returncode == 1
    assert done.stderr.strip() == f"fleetpulse-collector: error: no SQLite database at {missing}"
    assert not missing.exists()


def test_an_empty_store_reports_unknowns_and_no_verdict(db: str, tmp_path: Path) -> None:
    done = cli("fleetpulse-collector", "report", "--db", db, "--target", "1")
    assert done.returncode == 0, done.stderr
    assert "NO VERDICT" in done.stdout and "expected: unknown" in done.stdout
    out = tmp_path / "r.json"
    written = cli(
        "fleetpulse-collector",
        "report",
        "--db",
        db,
        "--format",
        "json",
        "--out",
        str(out),
        "--since",
        "7d",
        "--slo",
        "90",
    )
    assert written.returncode == 0 and written.stdout == "", written.stderr
    data = json.loads(out.read_text())
    assert data["slo_seconds"] == 90.0 and data["target"] == 0.95
    assert data["fleet"]["signins"] == 0 and data["devices"]["expected"] is None
    assert len(data["weeks"]) in (1, 2)  # 7 days touch two ISO weeks (one if Monday 00:00)


def test_report_is_listed_in_help() -> None:
    done = cli("fleetpulse-collector", "report", "--help")
    assert done.returncode == 0
    for option in (
        "--since",
        "--until",
        "--compare",
        "--slo",
        "--target",
        "--format",
        "--out",
        "--include-flagged",
    ):
        assert option in done.stdout
