"""A damaged spool: what reads back is salvaged with its seqs, what does not is counted
(``dropped["unreadable"]``), losses that cannot be counted are said to be unknown, and
``fleetpulse-agent status`` reports all of it without changing a byte on disk."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest

from fleetpulse.agent.config import Credentials
from fleetpulse.agent.spool import Spool, inspect
from fleetpulse.contract.records import Kind
from tests.agent.spool_damage import crash_after_commit, fill, garble, leaf_pages
from tests.procs import cli

N = 2000


def _payloads(n: int = N) -> list[tuple[Kind, bytes]]:
    kinds = (Kind.APP_USAGE, Kind.SIGNIN, Kind.BOOT, Kind.HEALTH)
    return [(kinds[i % 4], f"record-{i:05d}-".encode() + bytes(180)) for i in range(n)]


def _damaged(tmp_path: Path) -> tuple[Path, dict[int, bytes], int]:
    """A closed spool of N records with three table pages overwritten; the rows lost."""
    path = tmp_path / "spool.db"
    original = fill(path, _payloads())
    pages = leaf_pages(path)
    bad = [pages[5], pages[40], pages[41]]
    garble(path, [p for p, _ in bad])
    return path, original, sum(n for _, n in bad)


def test_bad_pages_cost_only_their_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, original, lost = _damaged(tmp_path)
    assert 0 < lost < N // 10
    with caplog.at_level(logging.ERROR, "fleetpulse.agent.spool"):
        spool = Spool(str(path))
    got = dict(spool.peek(limit=10 * N, max_bytes=10**9))
    # every row that reads back, with its seq (the collector deduplicates by seq) ...
    assert len(got) == N - lost
    assert all(original[seq] == payload for seq, payload in got.items())
    # ... and what did not is counted, for the next health record
    stats = spool.stats()
    assert stats.dropped == {"unreadable": lost}
    assert (stats.corrupt_spools, stats.damage_unknown) == (1, 0)
    assert stats.bytes == sum(len(p) for p in got.values())
    assert f"{N - lost} record(s) salvaged, {lost} unreadable" in caplog.text
    assert spool.put([(Kind.BOOT, b"new")])[0] > max(original)  # no seq is ever reused
    spool.close()
    aside = [p for p in tmp_path.glob("spool.db.corrupt-*") if not p.name.endswith("wal")]
    assert len([p for p in aside if not p.name.endswith("shm")]) == 1  # kept for inspection
    assert not list(tmp_path.glob("*.salvage*"))


def test_counters_survive_the_salvage(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(str(path), max_bytes=4000)
    spool.put(_payloads(100))  # over the cap: some dropped, counted
    dropped = spool.stats().dropped
    assert dropped
    spool.close()
    garble(path, [leaf_pages(path)[0][0]])
    again = Spool(str(path))
    after = again.stats().dropped
    assert after.pop("unreadable") > 0
    assert after == dropped  # cumulative totals go on from where they were
    again.close()


def test_damage_found_while_running_is_salvaged_without_an_error(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(str(path))
    original = dict(zip(spool.put(_payloads()), (p for _, p in _payloads()), strict=True))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row now in the main file
    pages = leaf_pages(path)
    bad = [pages[10], pages[60]]
    garble(path, [p for p, _ in bad])
    # a commit by another connection makes the open one drop its cached pages
    other.execute("INSERT INTO counters (name, value) VALUES ('poke', 1)")
    other.close()
    lost = sum(n for _, n in bad)
    got = dict(spool.peek(limit=10 * N, max_bytes=10**9))  # no exception
    assert len(got) == N - lost
    assert all(original[s] == p for s, p in got.items())
    assert spool.stats().dropped == {"unreadable": lost}
    spool.ack(list(got))
    assert spool.stats().records == 0
    spool.close()


def test_a_zero_byte_spool_is_a_loss_of_unknown_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spool.db"
    fill(path, _payloads(10))
    path.write_bytes(b"")
    with caplog.at_level(logging.ERROR, "fleetpulse.agent.spool"):
        spool = Spool(str(path))
    assert "empty (0 bytes)" in caplog.text and "how many is unknown" in caplog.text
    stats = spool.stats()
    assert stats.damage_unknown == 1
    assert "unreadable" not in stats.dropped  # unknown, not 0
    assert spool.put([(Kind.BOOT, b"x")])
    spool.close()


def test_a_lost_write_ahead_log_is_a_loss_of_unknown_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spool.db"
    fill(path, _payloads(5))
    crash_after_commit(path, 50)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0 and Path(f"{path}-shm").exists()
    wal.unlink()
    assert any("write-ahead log" in line for line in inspect(str(path)).damage)
    with caplog.at_level(logging.ERROR, "fleetpulse.agent.spool"):
        spool = Spool(str(path))
    assert "write-ahead log (-wal) is missing" in caplog.text
    assert "how many is unknown" in caplog.text
    stats = spool.stats()
    assert stats.records == 5  # the 50 in the log are gone
    assert stats.damage_unknown == 1 and "unreadable" not in stats.dropped
    spool.close()
    assert Spool(str(path)).stats().damage_unknown == 1  # a clean close is not a loss


def test_a_destroyed_header_is_unknown_not_zero(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    fill(path, _payloads(50))
    garble(path, [1])
    spool = Spool(str(path))
    stats = spool.stats()
    assert (stats.records, stats.corrupt_spools, stats.damage_unknown) == (0, 1, 1)
    assert "unreadable" not in stats.dropped
    spool.close()


def _snapshot(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture
def state(tmp_path: Path) -> Path:
    sd = tmp_path / "state"
    Credentials("dev-1", "secret", "127.0.0.1:1", "hq", "00" * 32).save(sd)
    return sd


def test_status_reports_damage_and_changes_nothing(state: Path) -> None:
    _, _, lost = _damaged(state)
    before = _snapshot(state)
    got = cli("fleetpulse-agent", "status", "--state-dir", str(state))
    assert got.returncode == 0, got.stderr
    assert f"DAMAGED:   {N - lost} record(s) readable, {lost} unreadable" in got.stdout
    assert _snapshot(state) == before  # nothing moved, created or written


def test_status_of_a_sound_or_missing_spool_changes_nothing(state: Path) -> None:
    got = cli("fleetpulse-agent", "status", "--state-dir", str(state))
    assert got.returncode == 0 and "spool:     none yet" in got.stdout
    assert not (state / "spool.db").exists()
    fill(state / "spool.db", _payloads(3))
    before = _snapshot(state)
    got = cli("fleetpulse-agent", "status", "--state-dir", str(state))
    assert "spool:     3 record(s)" in got.stdout and "DAMAGED" not in got.stdout
    assert _snapshot(state) == before  # no -wal or -shm left behind


def test_a_salvage_cut_short_is_finished_at_the_next_open(tmp_path: Path) -> None:
    path, original, _ = _damaged(tmp_path)
    # killed after the complete copy was renamed to .salvaged, before the swap
    good = tmp_path / "copy.db"
    copied = fill(good, _payloads(7))
    good.rename(f"{path}.salvaged")
    Path(f"{path}.salvage-tmp").write_bytes(b"half a file")  # an older, unfinished copy
    spool = Spool(str(path))
    assert dict(spool.peek(limit=100)) == copied  # the finished copy, not a second salvage
    spool.close()
    assert not list(tmp_path.glob("*.salvage*"))
    aside = [p for p in tmp_path.glob("spool.db.corrupt-*") if not p.name.endswith(("wal", "shm"))]
    assert len(aside) == 1 and aside[0].stat().st_size > len(original)  # the damaged file
