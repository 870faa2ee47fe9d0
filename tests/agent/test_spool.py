from __future__ import annotations

from pathlib import Path

from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import Kind


def test_records_survive_reopen_until_acked(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    spool = Spool(path)
    seqs = spool.put([(Kind.SIGNIN, b"a"), (Kind.BOOT, b"bb")])
    spool.close()  # as if the process died after the commit
    again = Spool(path)
    assert again.peek() == [(seqs[0], b"a"), (seqs[1], b"bb")]
    again.ack([seqs[0]])
    assert again.peek() == [(seqs[1], b"bb")]
    assert again.stats().bytes == 2
    again.close()


def test_sequence_numbers_increase_and_are_never_reused(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    spool = Spool(path)
    first = spool.put([(Kind.BOOT, b"x")])
    spool.ack(first)
    second = spool.put([(Kind.BOOT, b"y")])
    assert second[0] > first[0]
    spool.close()
    (tmp_path / "spool.db").unlink()
    for extra in ("-wal", "-shm"):
        Path(path + extra).unlink(missing_ok=True)
    fresh = Spool(path)  # a spool recreated from scratch starts above the old numbers
    assert fresh.put([(Kind.BOOT, b"z")])[0] > second[0]
    fresh.close()


def test_cap_drops_app_usage_before_signins_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.db"), max_bytes=1000)
    spool.put([(Kind.SIGNIN, b"s" * 300)])
    spool.put([(Kind.APP_USAGE, b"a" * 300) for _ in range(3)])
    stats = spool.stats()
    assert stats.bytes <= 1000
    assert stats.by_kind == {"signin": 1, "app_usage": 2}
    assert stats.dropped == {"app_usage": 1}
    spool.put([(Kind.BOOT, b"b" * 900)])
    stats = spool.stats()
    # every app record goes first; then the boot, worth less than the sign-in, goes too
    assert stats.by_kind == {"signin": 1}
    assert stats.dropped == {"app_usage": 3, "boot": 1}
    spool.close()


def test_age_cap_drops_old_records(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(str(tmp_path / "s.db"), max_age=60, clock=lambda: now[0])
    spool.put([(Kind.APP_USAGE, b"old")])
    now[0] += 120
    spool.put([(Kind.SIGNIN, b"new")])
    dropped = spool.enforce_cap()
    assert dropped == {"app_usage": 1}
    assert [p for _, p in spool.peek()] == [b"new"]
    spool.close()


def test_rejected_records_are_set_aside_and_counted(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.db"))
    seqs = spool.put([(Kind.SIGNIN, b"ok"), (Kind.SIGNIN, b"bad")])
    spool.reject([seqs[1]], "total_seconds must be non-negative")
    assert spool.peek() == [(seqs[0], b"ok")]
    assert spool.stats().rejected == 1
    spool.close()


def test_corrupt_spool_is_set_aside_and_agent_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not a database" * 100)
    spool = Spool(str(path))
    assert spool.put([(Kind.BOOT, b"x")])
    assert list(tmp_path.glob("spool.db.corrupt-*"))
    spool.close()
