"""Secrets off the command line: ``enroll``/``install --token-file FILE`` (and ``-`` for
standard input) against a live collector, and the Linux unit never running an interpreter
under a home directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fleetpulse.agent.install.commands import RECORD_ENV
from tests.procs import BIN, CollectorProc, cli, start_collector


def _token(c: CollectorProc) -> str:
    made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", c.db)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_enroll_reads_the_token_from_a_file_and_from_stdin(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        token_file = tmp_path / "token"
        token_file.write_text(f"\n  {_token(c)}  \n")
        got = cli("fleetpulse-agent", "enroll", "--collector", c.grpc, "--token-file",
                  str(token_file), "--state-dir", str(tmp_path / "a"))  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert json.loads((tmp_path / "a/credentials.json").read_text())["site"] == "hq"

        piped = subprocess.run(
            [str(BIN / "fleetpulse-agent"), "enroll", "--collector", c.grpc,
             "--token-file", "-", "--state-dir", str(tmp_path / "b")],
            input=_token(c) + "\n", capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert piped.returncode == 0, piped.stderr
        assert (tmp_path / "b/credentials.json").exists()
    finally:
        c.stop()


def test_token_file_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    cases = [
        (["--token-file", str(tmp_path / "missing")], "cannot read the token file"),
        (["--token-file", str(empty)], f"no token in {empty}"),
        (["--token", "fpt_x", "--token-file", str(empty)], "not both"),
        ([], "an enrollment token is needed"),
    ]
    for args, expected in cases:
        got = cli("fleetpulse-agent", "enroll", "--collector", "127.0.0.1:1", *args,
                  "--state-dir", str(tmp_path / "s"))  # fmt: skip
        assert got.returncode == 1, args
        assert got.stderr.count("\n") == 1 and expected in got.stderr, got.stderr
        assert "Traceback" not in got.stderr


def test_install_with_token_file_keeps_the_token_out_of_everything_written(
    tmp_path: Path,
) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        token = _token(c)
        token_file = tmp_path / "token"
        token_file.write_text(token)
        root, record = tmp_path / "root", tmp_path / "commands.jsonl"
        got = cli("fleetpulse-agent", "install", "--collector", c.grpc, "--token-file",
                  str(token_file), "--root", str(root), env={RECORD_ENV: str(record)})  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith("installed: device ")
        written = [p for p in root.rglob("*") if p.is_file()]
        assert written
        for path in [*written, record]:
            assert token.encode() not in path.read_bytes(), path
    finally:
        c.stop()


def test_install_refuses_a_service_command_under_a_home_directory(tmp_path: Path) -> None:
    # the console script this test runs lives in the project's venv: make that a home
    home = BIN.parent.parent
    got = cli("fleetpulse-agent", "install", "--collector", "127.0.0.1:1", "--token", "fpt_x",
              "--root", str(tmp_path / "root"), env={"HOME": str(home)})  # fmt: skip
    assert got.returncode == 1
    assert got.stderr.startswith("fleetpulse-agent: error: the service would run ")
    assert f"under the home directory {home}" in got.stderr
    assert not (tmp_path / "root").exists()  # refused before writing anything
