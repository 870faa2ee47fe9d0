"""Simulated devices carry plausible hardware that the collector accepts, and the slower
models are slower, so the demo's by-model views have something to show."""

from __future__ import annotations

import statistics

from fleetpulse.collector.validation import check_facts
from fleetpulse.sim.hardware import PC_MODELS
from fleetpulse.sim.simulate import SimulatedFleet


def test_every_simulated_device_has_hardware_the_collector_accepts() -> None:
    fleet = SimulatedFleet("127.0.0.1:9", ["fpt_x"], devices=200, seed=5)
    facts = [d.facts for d in fleet.devices]
    for f in facts:
        check_facts(f)
    assert {f.system_disk for f in facts} == {"ssd", "hdd", ""}
    assert len({(f.manufacturer, f.model) for f in facts}) >= 6
    assert any(f.model == "" for f in facts)  # some boards name no model
    assert all(f.memory_bytes >= 4 << 30 for f in facts)
    # hardware is drawn apart: the same seed gives the same devices as before otherwise
    again = SimulatedFleet("127.0.0.1:9", ["fpt_x"], devices=200, seed=5)
    assert [d.facts for d in again.devices] == facts


def test_hdd_models_are_the_slow_ones() -> None:
    hdd = [m.slowness for m in PC_MODELS if m.system_disk == "hdd"]
    ssd = [m.slowness for m in PC_MODELS if m.system_disk == "ssd"]
    assert min(hdd) > max(ssd) and statistics.mean(hdd) > 1.5
