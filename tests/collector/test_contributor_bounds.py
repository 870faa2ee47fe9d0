"""Sign-in contributors: the collector refuses each kind of bad one by its record's seq,
and a good one survives the wire (serde) unchanged."""

from __future__ import annotations

import pytest

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.serde import report_from_bytes
from fleetpulse.collector.validation import MAX_CONTRIBUTORS, validate
from fleetpulse.contract.records import Contributor, DeviceFacts, SigninRecord, SigninState
from fleetpulse.contract.serde import record_to_proto
from fleetpulse.v1 import telemetry_pb2 as pb

NOW = 1_800_000_000.0
GOOD = (
    Contributor("gp_extension", "Drive Maps", 1648.123),
    Contributor("gp_script", "map_printers.cmd", 42.318),
    Contributor("startup_app", "teams.exe", 1.25),
    Contributor("profile", "temporary", 8.625),
)


def signin(contributors: tuple[Contributor, ...]) -> SigninRecord:
    return SigninRecord(
        session_id="s",
        boot_id="b",
        user_hash="h",
        started_at=NOW - 3600,
        state=SigninState.COMPLETE,
        total_seconds=1800.0,
        contributors=contributors,
    )


def report(*records: tuple[int, SigninRecord]) -> Report:
    incoming = [Incoming(seq, NOW, r) for seq, r in records]
    return Report("d", DeviceFacts("h", "windows", "", ""), incoming, NOW)


def test_good_contributors_pass_and_cross_the_wire_unchanged() -> None:
    validate(report((1, signin(GOOD))), NOW)
    req = pb.ReportRequest(device_id="d", records=[record_to_proto(signin(GOOD), NOW, seq=1)])
    (inc,) = report_from_bytes(req.SerializeToString()).records
    assert isinstance(inc.record, SigninRecord)
    assert inc.record.contributors == GOOD


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Contributor("culprit", "x.exe", 1.0), "unknown contributor kind 'culprit'"),
        (Contributor("startup_app", "", 1.0), "startup_app contributor name is empty"),
        (Contributor("startup_app", "a" * 65, 1.0), "longer than 64 characters"),
        (Contributor("gp_script", "\\\\corp\\netlogon\\x.cmd", 1.0), "not a bare name"),
        (Contributor("startup_app", "C:/Users/alice/x.exe", 1.0), "not a bare name"),
        (Contributor("startup_app", "x.exe\n", 1.0), "not a bare name"),
        (Contributor("profile", "alice", 1.0), "one of local, roaming, temporary, mandatory"),
        (Contributor("gp_extension", "Registry", -0.5), "non-negative number of seconds"),
        (Contributor("gp_extension", "Registry", float("inf")), "non-negative number"),
        (Contributor("gp_extension", "Registry", 86400.5), "beyond the 86400 s limit"),
    ],
)
def test_each_bad_contributor_is_refused_by_its_seq(bad: Contributor, message: str) -> None:
    with pytest.raises(InvalidReport, match=message) as err:
        validate(report((3, signin(GOOD)), (4, signin((*GOOD, bad))), (5, signin(()))), NOW)
    assert err.value.seqs == [4]


def test_more_than_the_maximum_is_refused() -> None:
    many = tuple(Contributor("startup_app", f"a{i}.exe", 0.1) for i in range(MAX_CONTRIBUTORS))
    validate(report((1, signin(many))), NOW)
    with pytest.raises(InvalidReport, match="65 contributors; at most 64") as err:
        validate(report((8, signin((*many, GOOD[0])))), NOW)
    assert err.value.seqs == [8]
