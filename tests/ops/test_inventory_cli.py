"""``inventory import`` reads headers in any case and counts what it skips; ``--replace``
makes the file the whole inventory and ``inventory remove --site`` drops one site's list;
``devices --coverage`` matches full domain names to short names on the first label and says
which rule matched. Through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleetpulse.collector.store.inventory_ops import FIRST_LABEL, SAME_NAME, match_hostname
from tests.ops.conftest import migrated
from tests.ops.fleet import enroll_hosts
from tests.procs import cli


def _run(*args: str) -> tuple[int, str, str]:
    done = cli("fleetpulse-collector", *args)
    return done.returncode, done.stdout, done.stderr


def _coverage(db: str) -> list[dict[str, Any]]:
    code, out, err = _run("devices", "--coverage", "--format", "json", "--db", db)
    assert code == 0, err
    got: list[dict[str, Any]] = json.loads(out)
    return got


def test_headers_in_any_case_and_skipped_rows_are_shown(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(
        "Hostname,Site,Owner\npc-1,North,a\n\npc-2,,b\n,North,c\n  ,  ,\npc-3,South,d\n"
    )
    code, out, err = _run("inventory", "import", str(path), "--db", db_url)
    assert code == 0, err
    assert out.strip() == (
        "imported 2 expected device(s); skipped 4 row(s): 2 blank, "
        "2 without hostname or site (lines 4, 5)"
    )
    assert {s["site"]: s["expected"] for s in _coverage(db_url)} == {"North": 1, "South": 1}


def test_a_header_without_the_columns_names_what_it_got(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text("Host,Location\npc-1,north\n")
    code, _, err = _run(
        "inventory", "import", str(path), "--db", migrated(f"sqlite:///{tmp_path}/c.db")
    )
    assert code == 1
    [line] = err.strip().splitlines()
    assert "needs a header with columns hostname,site" in line and "'Host,Location'" in line


def test_replace_removes_what_the_file_no_longer_lists(tmp_path: Path, db_url: str) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("hostname,site\npc-1,north\npc-2,north\npc-3,south\n")
    second.write_text("hostname,site\npc-1,north\npc-3,west\n")
    assert _run("inventory", "import", str(first), "--db", db_url)[0] == 0
    # without --replace the old entries stay (pc-2 is still expected)
    code, out, _ = _run("inventory", "import", str(second), "--db", db_url)
    assert code == 0 and out.strip() == "imported 2 expected device(s)"
    assert {s["site"]: s["expected"] for s in _coverage(db_url)} == {"north": 2, "west": 1}
    code, out, err = _run("inventory", "import", str(second), "--replace", "--db", db_url)
    assert code == 0, err
    assert out.strip() == "imported 2 expected device(s); removed 1 not in the file"
    sites = {s["site"]: sorted(s["never_enrolled"]) for s in _coverage(db_url)}
    assert sites == {"north": ["pc-1"], "west": ["pc-3"]}


def test_a_bad_line_with_replace_removes_nothing(tmp_path: Path, db_url: str) -> None:
    good, bad = tmp_path / "a.csv", tmp_path / "b.csv"
    good.write_text("hostname,site\npc-1,north\npc-2,north\n")
    bad.write_bytes(b"hostname,site\npc-1,north\npc-\xff,north\n")
    assert _run("inventory", "import", str(good), "--db", db_url)[0] == 0
    code, _, err = _run("inventory", "import", str(bad), "--replace", "--db", db_url)
    assert code == 1 and "line 3" in err
    assert [s["expected"] for s in _coverage(db_url)] == [2]


def test_remove_one_site(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text("hostname,site\npc-1,north\npc-2,north\npc-3,south\n")
    assert _run("inventory", "import", str(path), "--db", db_url)[0] == 0
    code, out, err = _run("inventory", "remove", "--site", "north", "--db", db_url)
    assert code == 0, err
    assert out.strip() == "removed 2 expected device(s) of site north"
    assert [s["site"] for s in _coverage(db_url)] == ["south"]
    code, _, err = _run("inventory", "remove", "--site", "north", "--db", db_url)
    assert code == 1
    [line] = err.strip().splitlines()
    assert "no inventory entries for site 'north'" in line


def test_coverage_matches_short_and_full_names_and_says_how(tmp_path: Path, db_url: str) -> None:
    enroll_hosts(db_url, "north", ["PC-1", "pc-2.corp.example", "pc-3", "pc-9.corp.example"])
    path = tmp_path / "a.csv"
    path.write_text(
        "hostname,site\n"
        "pc-1.corp.example,north\n"  # inventory full name, agent short name
        "pc-2,north\n"  # inventory short name, agent full name
        "PC-3,north\n"  # same name, other case
        "pc-9.other.example,north\n"  # two different full names: not the same machine
        "pc-4,north\n"
    )
    assert _run("inventory", "import", str(path), "--db", db_url)[0] == 0
    [north] = _coverage(db_url)
    assert (north["expected"], north["enrolled"], north["coverage"]) == (5, 3, 0.6)
    assert sorted(north["never_enrolled"]) == ["pc-4", "pc-9.other.example"]
    rules = {m["inventory"]: (m["device"], m["rule"]) for m in north["matched"]}
    assert rules == {
        "pc-1.corp.example": ("PC-1", FIRST_LABEL),
        "pc-2": ("pc-2.corp.example", FIRST_LABEL),
        "PC-3": ("pc-3", SAME_NAME),
    }
    code, out, err = _run("devices", "--coverage", "--db", db_url)
    assert code == 0, err
    assert "north: 3 of 5 expected devices enrolled (60.0%); never enrolled: 2" in out
    assert "matched by same name: 1; by first label (one side a short name): 2" in out
    assert "pc-1.corp.example = PC-1 (first label)" in out


def test_match_hostname_rules() -> None:
    full = {"pc-1": "PC-1", "pc-2.corp.example": "pc-2.corp.example"}
    short = {"pc-2": "pc-2.corp.example"}
    assert match_hostname("pc-1", full, short) == ("PC-1", SAME_NAME)
    assert match_hostname("PC-1.corp.example", full, short) == ("PC-1", FIRST_LABEL)
    assert match_hostname("pc-2", full, short) == ("pc-2.corp.example", FIRST_LABEL)
    assert match_hostname("pc-2.other.example", full, short) is None
    assert match_hostname("pc-3", full, short) is None
