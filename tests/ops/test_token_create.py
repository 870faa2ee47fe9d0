"""``token create`` shows the token's id as well as its secret (once), so the operator can
revoke it later; ``--format json`` gives both to a script."""

from __future__ import annotations

import json
from pathlib import Path

from tests.procs import cli


def _create(db: str, *extra: str) -> tuple[int, str, str]:
    done = cli("fleetpulse-collector", "token", "create", "--site", "north", "--db", db, *extra)
    return done.returncode, done.stdout, done.stderr


def _ids(db: str) -> list[str]:
    listed = cli("fleetpulse-collector", "token", "list", "--db", db).stdout
    return [line.split()[0] for line in listed.strip().splitlines()[1:]]


def test_text_prints_the_secret_on_stdout_and_the_id_on_stderr(sqlite_db: str) -> None:
    db = sqlite_db
    code, out, err = _create(db, "--expires", "7d", "--max-uses", "3")
    assert code == 0, err
    assert out.strip().startswith("fpt_") and len(out.strip().splitlines()) == 1
    [token_id] = _ids(db)
    assert f"token id {token_id} " in err and "shown once" in err
    assert f"token revoke {token_id}" in err
    assert out.strip() not in err
    revoked = cli("fleetpulse-collector", "token", "revoke", token_id, "--db", db)
    assert revoked.returncode == 0 and f"revoked {token_id}" in revoked.stdout


def test_json_gives_id_and_secret_together(sqlite_db: str) -> None:
    db = sqlite_db
    code, out, err = _create(db, "--format", "json", "--max-uses", "5")
    assert code == 0, err
    got = json.loads(out)
    assert got["token"].startswith("fpt_") and len(got["token"]) >= 4 + 43
    assert _ids(db) == [got["token_id"]]
    assert (got["site"], got["max_uses"], got["expires_at"]) == ("north", 5, None)
    assert err == ""
    listed = cli("fleetpulse-collector", "token", "list", "--db", db).stdout
    assert got["token"] not in listed  # still shown once: the list never has it


def test_an_unknown_format_is_one_line(tmp_path: Path) -> None:
    code, out, err = _create(f"sqlite:///{tmp_path / 'c.db'}", "--format", "yaml")
    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert "--format must be text or json" in line
