"""The boards' by-model gauges: figures as the report computes them, labels capped to the
top models by devices (the rest "other"), unknown models "unknown"; computed by a real
collector's refresh from its store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy
import pytest
from prometheus_client import CollectorRegistry

from fleetpulse.collector.model import BootTotal, Hardware, Incoming, Report, SigninDuration
from fleetpulse.collector.model_board import ModelBoardCollector, compute
from fleetpulse.collector.server import Collector, ServerConfig
from fleetpulse.collector.store.base import open_store
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState

HARDWARE = {
    "a1": Hardware("HP", "EliteBook 840 G3", None, "hdd"),
    "a2": Hardware("HP", "EliteBook 840 G3", None, "ssd"),
    "a3": Hardware("HP", "EliteBook 840 G3", None, None),
    "b1": Hardware("Dell Inc.", "Latitude 5440", None, "ssd"),
    "b2": Hardware("Dell Inc.", "Latitude 5440", None, "ssd"),
    "c1": Hardware("LENOVO", "20XW0026GE", None, "ssd"),
    "d1": Hardware("ACME", 'Model "X"\\1', None, "hdd"),  # no clean label value
    "u1": Hardware(),
    "idle": Hardware("HP", "ProDesk 600", None, "ssd"),  # nothing in the window
}


def sample(
    registry: CollectorRegistry, name: str, maker: str, model: str, **extra: str
) -> float | None:
    return registry.get_sample_value(name, {"manufacturer": maker, "model": model, **extra})


def test_the_top_models_keep_their_names_and_the_rest_are_pooled_as_other() -> None:
    signins = [SigninDuration(d, 10.0 * (i + 1), False) for i, d in enumerate(HARDWARE)]
    signins.append(SigninDuration("c1", 9999.0, True))  # flagged: out
    signins = [s for s in signins if s.device_id != "idle"]
    boots = [BootTotal("c1", 0.0, 40.0), BootTotal("d1", 0.0, None)]
    section = compute(HARDWARE, signins, boots, top_n=2)
    got = {(m.manufacturer, m.model): m for m in section.models}
    assert set(got) == {
        ("HP", "EliteBook 840 G3"),
        ("Dell Inc.", "Latitude 5440"),
        ("other", "other"),
        (None, None),
    }
    other = got[("other", "other")]  # c1 and d1 pooled: its own percentiles
    assert (other.devices, other.signins, other.boots) == (2, 2, 2)
    assert other.signin_p95 == pytest.approx(numpy.percentile([60.0, 70.0], 95))
    assert (other.devices_hdd, other.devices_disk_known) == (1, 2)
    assert got[("HP", "EliteBook 840 G3")].devices == 3
    # uncapped, only the name no label value can hold is "other"
    wide = {(m.manufacturer, m.model): m.devices for m in compute(HARDWARE, signins, boots).models}
    assert wide[("other", "other")] == 1 and wide[("LENOVO", "20XW0026GE")] == 1


def test_the_gauges_carry_the_figures_and_nothing_unknown() -> None:
    registry = CollectorRegistry()
    board = ModelBoardCollector()
    registry.register(board)
    assert sample(registry, "fleetpulse_model_devices", "HP", "EliteBook 840 G3") is None
    signins = [SigninDuration("a1", 30.0, False), SigninDuration("a2", None, False)]
    board.update(compute(HARDWARE, signins, [BootTotal("u1", 0.0, None)]))
    hp = ("HP", "EliteBook 840 G3")
    assert sample(registry, "fleetpulse_model_devices", *hp) == 2
    assert sample(registry, "fleetpulse_model_devices_hdd", *hp) == 1
    assert sample(registry, "fleetpulse_model_devices_disk_known", *hp) == 2
    assert sample(registry, "fleetpulse_model_logins", *hp) == 2
    assert sample(registry, "fleetpulse_model_login_seconds", *hp, quantile="0.95") == 30.0
    # the unknown model booted once, duration unknown: counted, no percentile series
    assert sample(registry, "fleetpulse_model_devices", "unknown", "unknown") == 1
    assert (
        sample(registry, "fleetpulse_model_boot_seconds", "unknown", "unknown", quantile="0.5")
        is None
    )


def test_a_collectors_refresh_computes_them_from_its_store(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    store = open_store(db)
    store.migrate()
    now = time.time()
    store.create_token("t", "th", "hq", now, None, None)
    store.enroll("th", "d1", "sh", "pc-1", "windows", "11", "1.0", "hw", "m", now)
    facts = DeviceFacts("pc-1", "windows", "11", "1.0", model="Latitude 5440", system_disk="hdd")
    rec = SigninRecord("s", "b", "u", now - 3600, SigninState.COMPLETE, 42.0)
    store.ingest([Report("d1", facts, [Incoming(1, now, rec)], now)], now)
    collector = Collector(ServerConfig(db=db), store)
    try:
        asyncio.run(collector.refresh())
        # the by-model gauges are rendered at refresh with the fleet state, not at scrape
        r = CollectorRegistry()
        r.register(collector.models)
        assert b"fleetpulse_model_devices{" in collector.pre_rendered.text
        assert sample(r, "fleetpulse_model_devices", "unknown", "Latitude 5440") == 1
        assert sample(r, "fleetpulse_model_devices_hdd", "unknown", "Latitude 5440") == 1
        q = sample(r, "fleetpulse_model_login_seconds", "unknown", "Latitude 5440", quantile="0.5")
        assert q == 42.0
    finally:
        store.close()
