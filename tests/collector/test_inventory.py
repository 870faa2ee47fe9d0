"""``fleetpulse-collector inventory import``: bad lines are one-line errors naming the line
(nothing imported), and import and ``report`` keep their memory bounded on a large inventory.

The memory test runs the real commands as processes and reads each one's peak RSS
(getrusage(2) ``ru_maxrss`` via ``os.wait4``, KiB on Linux); see docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.inventory_memory import peak_rss, write_inventory
from fleetpulse.collector.store.base import open_store
from tests.procs import BIN, cli

COLLECTOR = str(BIN / "fleetpulse-collector")


def _expected(db: str) -> dict[str, int]:
    store = open_store(db)
    try:
        store.migrate()
        return store.inventory_expected()
    finally:
        store.close()


def _migrated(db: str) -> str:
    store = open_store(db)
    store.migrate()  # import changes data only: the schema comes from serve or migrate
    store.close()
    return db


def _import(path: Path, db: str) -> tuple[int, str, str]:
    _migrated(db)
    got = cli("fleetpulse-collector", "inventory", "import", str(path), "--db", db)
    return got.returncode, got.stdout, got.stderr


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


GOOD = b"hostname,site\nhost-1,north\nhost-2,south\n"


@pytest.mark.parametrize(
    ("tail", "line", "says"),
    [
        (b"bad-\xff\xfe-host,north\n", 4, "not valid UTF-8"),
        (b"host-3,north\n" + b"h" * (128 * 1024 + 10) + b",north\n", 5, "field larger"),
        (b"h" * 300 + b",north\n", 4, "longer than 256"),
        (b"host\x00nul,north\n", 4, "control character"),
    ],
    ids=["invalid-utf8", "128KiB-field", "long-hostname", "nul"],
)
def test_a_bad_line_is_one_line_naming_it_and_nothing_is_imported(
    tmp_path: Path, db_url: str, tail: bytes, line: int, says: str
) -> None:
    path = tmp_path / "inventory.csv"
    path.write_bytes(GOOD + tail + b"host-9,north\n")
    code, _, err = _import(path, db_url)
    msg = _one_line_error(err)
    assert code != 0
    assert f"line {line}:" in msg and says in msg, msg
    assert _expected(db_url) == {}  # one transaction: the good lines before it are not kept


def test_a_good_file_with_a_bom_and_crlf_is_imported(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "inventory.csv"
    path.write_bytes(
        b'\xef\xbb\xbfhostname,site\r\nHost-1,north\r\nhost-1,south\r\n"h2",north\r\n,x\r\n'
    )
    code, out, err = _import(path, db_url)
    assert code == 0, err
    assert "imported 3 expected device(s)" in out
    # Host-1 and host-1 are one machine (case-insensitive), under the greatest site name
    assert _expected(db_url) == {"north": 1, "south": 1}


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    code, _, err = _import(tmp_path / "absent.csv", f"sqlite:///{tmp_path / 'c.db'}")
    assert code != 0 and "absent.csv" in _one_line_error(err)


#: Peak RSS over the same command on a 1,000-row inventory may grow by at most this much at
#: 300,000 rows (the before-streaming code grew by 68 MiB on import and 125 MiB on report).
GROWTH_KIB = 20 * 1024


@pytest.mark.timeout(300)
def test_import_and_report_memory_stays_bounded(tmp_path: Path) -> None:
    peaks: dict[int, tuple[int, int]] = {}
    for rows in (1_000, 300_000):
        csv_path = tmp_path / f"inv-{rows}.csv"
        write_inventory(csv_path, rows)
        db = _migrated(f"sqlite:///{tmp_path / f'c-{rows}.db'}")
        code, imp, err = peak_rss([COLLECTOR, "inventory", "import", str(csv_path), "--db", db])
        assert code == 0, err
        code, rep, err = peak_rss([COLLECTOR, "report", "--db", db, "--format", "json"])
        assert code == 0, err
        peaks[rows] = (imp, rep)
        assert sum(_expected(db).values()) == rows
    (small_imp, small_rep), (big_imp, big_rep) = peaks[1_000], peaks[300_000]
    assert big_imp - small_imp < GROWTH_KIB, peaks
    assert big_rep - small_rep < GROWTH_KIB, peaks
