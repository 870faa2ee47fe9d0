"""Closed vocabularies and maxima of the contract, checked without a server."""

from __future__ import annotations

import pytest

from fleetpulse.agent.platform.windows_boot import CULPRIT_KINDS as WINDOWS_CULPRIT_KINDS
from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.validation import DROPPED_KINDS, MAX_CULPRITS
from fleetpulse.contract.phases import BOOT_PHASES, CULPRIT_KINDS, SIGNIN_PHASES
from fleetpulse.contract.records import BootRecord, Culprit, HealthRecord, Kind, Phase
from tests.collector.test_validation import NOW, check, good_signin


def test_culprit_kinds_are_the_ones_the_windows_backend_produces() -> None:
    assert set(CULPRIT_KINDS) == set(WINDOWS_CULPRIT_KINDS.values())


def test_dropped_kinds_are_the_spooled_kinds_and_unreadable() -> None:
    assert set(DROPPED_KINDS) == {k.value for k in Kind} | {"unreadable"}
    check(HealthRecord(dropped=dict.fromkeys(DROPPED_KINDS, 1)))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            BootRecord("b", NOW, 1.0, phases=(Phase("main_path", 1), Phase("main_path", 1))),
            "phase main_path repeated",
        ),
        (BootRecord("b", NOW, 1.0, phases=(Phase("core", 1),)), "unknown phase 'core'"),
        (
            BootRecord("b", NOW, 1.0, culprits=(Culprit("x", "Driver", 1),)),
            "unknown culprit kind 'Driver'",
        ),
        (
            BootRecord("b", NOW, 1.0, culprits=(Culprit("x", "driver", 1),) * (MAX_CULPRITS + 1)),
            f"at most {MAX_CULPRITS}",
        ),
        (HealthRecord(dropped={"app": 1}), "unknown dropped kind 'app'"),
    ],
)
def test_undefined_names_and_too_many_entries_are_refused(record: object, message: str) -> None:
    with pytest.raises(InvalidReport, match=message) as err:
        check(record, seq=9)
    assert err.value.seqs == [9]


def test_every_phase_once_and_the_most_culprits_pass() -> None:
    check(
        BootRecord(
            "b",
            NOW,
            1.0,
            phases=tuple(Phase(n, 1) for n in BOOT_PHASES),
            culprits=(Culprit("x", "driver", 1),) * MAX_CULPRITS,
        )
    )
    check(good_signin(phases=tuple(Phase(n, 1) for n in SIGNIN_PHASES)))
