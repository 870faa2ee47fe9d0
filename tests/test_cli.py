"""User errors: one line on stderr, exit code 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.procs import cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "fleetpulse-collector token create --site x --expires 0d --db sqlite:///{tmp}/t.db",
            "--expires: must be more than 0",
        ),
        (
            "fleetpulse-collector devices --silent-for 0h --db sqlite:///{tmp}/t.db",
            "--silent-for: must be more than 0",
        ),
        (
            "fleetpulse-collector devices --slowest -1 --db sqlite:///{tmp}/t.db",
            "--slowest must be a number of devices",
        ),
        (
            "fleetpulse-collector serve --refresh-seconds 0 --db sqlite:///{tmp}/t.db",
            "--refresh-seconds must be 0.1..3600",
        ),
        (
            ["fleetpulse-collector", "token", "create", "--site", "x", "--db", "mysql://nope"],
            "--db must be sqlite:///PATH or postgresql://",
        ),
        (
            [
                "fleetpulse-collector",
                "token",
                "create",
                "--site",
                "x",
                "--db",
                "sqlite:///{tmp}/t.db",
                "--expires",
                "soon",
            ],
            "not a duration",
        ),
        (
            [
                "fleetpulse-collector",
                "serve",
                "--db",
                "sqlite:///{tmp}/t.db",
                "--listen",
                "0.0.0.0:0",
            ],
            "refusing plaintext gRPC on non-loopback",
        ),
        (["fleetpulse-agent", "once", "--state-dir", "{tmp}/none"], "not enrolled"),
        (
            [
                "fleetpulse-agent",
                "enroll",
                "--collector",
                "nohost",
                "--token",
                "x",
                "--state-dir",
                "{tmp}/a",
            ],
            "collector address must be HOST:PORT",
        ),
    ],
)
def test_user_errors_are_one_line(tmp_path: Path, args: list[str] | str, message: str) -> None:
    if isinstance(args, str):
        args = args.split()
    cli("fleetpulse-collector", "migrate", "--db", f"sqlite:///{tmp_path}/t.db")
    done = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_help_works_for_both_commands() -> None:
    for name in ("fleetpulse-agent", "fleetpulse-collector"):
        done = cli(name, "--help")
        assert done.returncode == 0 and "Usage" in done.stdout


def test_token_create_prints_only_the_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    assert cli("fleetpulse-collector", "migrate", "--db", db).returncode == 0
    made = cli(
        "fleetpulse-collector",
        "token",
        "create",
        "--site",
        "north",
        "--db",
        db,
        "--expires",
        "7d",
        "--max-uses",
        "3",
    )
    assert made.returncode == 0
    token = made.stdout.strip()
    assert token.startswith("fpt_") and len(token) >= 4 + 43  # 256 random bits
    listed = cli("fleetpulse-collector", "token", "list", "--db", db).stdout
    assert "north" in listed and "0/3" in listed and token not in listed
