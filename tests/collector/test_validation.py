from __future__ import annotations

import math

import pytest

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.validation import validate
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    DeviceFacts,
    Phase,
    SigninRecord,
    SigninState,
)

NOW = 1_800_000_000.0


def check(record: object, seq: int = 1, observed: float = NOW) -> None:
    validate(
        Report("d", DeviceFacts("h", "linux", "", ""), [Incoming(seq, observed, record)], NOW), NOW
    )  # type: ignore[arg-type]


def good_signin(**kw: object) -> SigninRecord:
    base = dict(
        session_id="s",
        boot_id="b",
        user_hash="h",
        started_at=NOW - 60,
        state=SigninState.COMPLETE,
        total_seconds=60.0,
    )
    base.update(kw)
    return SigninRecord(**base)  # type: ignore[arg-type]


def test_valid_records_pass() -> None:
    check(good_signin())
    check(BootRecord("b", NOW - 100, None))
    check(AppUsageRecord(NOW - 60, 60, "x.exe", 1, 60, 30, 4))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (good_signin(total_seconds=-1.0), "total_seconds must be a non-negative"),
        (good_signin(total_seconds=math.nan), "non-negative number"),
        (good_signin(total_seconds=90_000.0), "beyond the 86400 s limit"),
        (good_signin(started_at=NOW + 3 * 86400), "in the future"),
        (good_signin(started_at=5.0), "before 2000"),
        (good_signin(session_id=""), "session_id is empty"),
        (good_signin(phases=(Phase('evil"}', 1.0),)), "unknown phase"),
        (BootRecord("b", NOW, -5.0), "total_seconds must be a non-negative"),
        (AppUsageRecord(NOW, 60, "a\nb", 1, 1, 1, 1), "control characters"),
        (AppUsageRecord(NOW, 60, "a", 1, 1, 500, 1), "foreground_seconds"),
    ],
)
def test_bad_records_are_named(record: object, message: str) -> None:
    with pytest.raises(InvalidReport, match=message) as err:
        check(record, seq=7)
    assert err.value.seqs == [7]


def test_seq_must_be_positive_and_unique() -> None:
    facts = DeviceFacts("h", "linux", "", "")
    recs = [
        Incoming(0, NOW, good_signin()),
        Incoming(2, NOW, good_signin()),
        Incoming(2, NOW, good_signin()),
    ]
    with pytest.raises(InvalidReport) as err:
        validate(Report("d", facts, recs, NOW), NOW)
    assert [s for s, _ in err.value.problems] == [0, 2]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (good_signin(session_id="s\x00"), "session_id contains a NUL"),
        (AppUsageRecord(NOW, 60, "a", 1, 1, 1, 1, peak_rss_bytes=2**63), "peak_rss_bytes"),
    ],
)
def test_values_no_database_column_can_hold_are_refused(record: object, message: str) -> None:
    with pytest.raises(InvalidReport, match=message):
        check(record)


def test_huge_seq_and_nul_in_facts_are_refused() -> None:
    with pytest.raises(InvalidReport, match="seq must be within"):
        check(good_signin(), seq=2**63)
    facts = DeviceFacts("host\x00", "linux", "", "")
    with pytest.raises(InvalidReport, match="facts hostname contains a NUL"):
        validate(Report("d", facts, [Incoming(1, NOW, good_signin())], NOW), NOW)
