"""The simulator gives Windows sign-ins contributors the collector accepts."""

from __future__ import annotations

import random

from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.validation import validate
from fleetpulse.contract.records import BootRecord, DeviceFacts, SigninRecord, SigninState
from fleetpulse.sim.simulate import sim_contributors, sim_culprits

NOW = 1_800_000_000.0


def test_drive_maps_dominates_a_30_minute_sign_in() -> None:
    for seed in range(50):
        found = sim_contributors(random.Random(seed), 1700.0, 20.0, slow=True)
        extensions = {c.name: c.seconds for c in found if c.kind == "gp_extension"}
        scripts = sum(c.seconds for c in found if c.kind == "gp_script")
        assert abs(sum(extensions.values()) + scripts - 1700.0) < 0.01
        top = max(extensions, key=extensions.__getitem__)
        assert top == "Drive Maps" and extensions[top] >= 0.9 * (1700.0 - scripts) - 0.01


def test_a_quick_sign_in_spreads_its_policy_time_and_passes_validation() -> None:
    found = sim_contributors(random.Random(7), 8.0, 3.0, slow=False)
    extensions = [c for c in found if c.kind == "gp_extension"]
    assert len(extensions) == 5 and max(c.seconds for c in extensions) < 8.0 * 0.6
    assert next(c for c in found if c.kind == "profile").seconds == 3.0
    record = SigninRecord("s", "b", "h", NOW - 60, SigninState.COMPLETE, 60.0, contributors=found)
    validate(Report("d", DeviceFacts("h", "windows", "", ""), [Incoming(1, NOW, record)], NOW), NOW)


def test_profile_types_are_mostly_local_sometimes_roaming() -> None:
    names = [sim_contributors(random.Random(i), 5.0, 2.0, slow=False)[0].name for i in range(2000)]
    assert names.count("local") > 1700 and 100 < names.count("roaming") < 300
    assert set(names) <= {"local", "roaming", "temporary"}


def test_degraded_boots_name_culprits_the_collector_accepts() -> None:
    found = [sim_culprits(random.Random(i), degraded=True) for i in range(200)]
    assert all(1 <= len(c) <= 2 for c in found)
    assert all(list(c) == sorted(c, key=lambda x: -x.seconds) for c in found)
    quiet = [sim_culprits(random.Random(i), degraded=False) for i in range(2000)]
    assert 400 < sum(1 for c in quiet if c) < 600  # a quarter of the others
    assert {x.kind for c in found for x in c} == {"service", "driver", "application"}
    boot = BootRecord("b", NOW - 600, 90.0, degraded=True, culprits=found[0])
    validate(Report("d", DeviceFacts("h", "windows", "", ""), [Incoming(1, NOW, boot)], NOW), NOW)
