"""The every-sixth-refresh figures computed over numpy columns equal, to the last bit, a
straightforward per-row computation: random rows with ties, unknown durations, flagged
sign-ins, sites with devices but no sign-ins, one row or none, starts exactly at the window
boundaries, devices without hardware, and model names no label can hold."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpulse.collector.model import BootTotal, Hardware, SigninTotal
from fleetpulse.collector.model_board import OTHER, _clean
from fleetpulse.collector.model_board import compute as models
from fleetpulse.collector.report.models import by_model
from fleetpulse.collector.signin_windows import SLO_SECONDS, WINDOWS
from fleetpulse.collector.signin_windows import compute as windows
from fleetpulse.collector.store.figure_reads import UNKNOWN_MODEL, DeviceCodes

UNTIL = 1_700_000_000.0
DAY = 86400.0
SITES = ("north", "south", "east")
DEVICES = tuple(f"d{i}" for i in range(6))
# the window boundaries exactly, just inside and outside them, and some times between
STARTS = st.one_of(
    st.sampled_from(
        [UNTIL - w + d for w in (*WINDOWS.values(), 0.0) for d in (-1.0, -1e-6, 0.0, 1e-6)]
    ),
    st.floats(UNTIL - 30 * DAY, UNTIL + DAY, allow_nan=False),
)
# ties, the SLO and 30 minutes exactly, zero, unknown
TOTALS = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.5, 42.0, SLO_SECONDS, SLO_SECONDS + 1e-9, 1799.99, 1800.0, 5000.0]),
    st.floats(0.0, 10_000.0, allow_nan=False),
)
SIGNINS = st.lists(
    st.builds(
        SigninTotal, st.sampled_from(DEVICES), st.sampled_from(SITES), STARTS, TOTALS, st.booleans()
    ),
    max_size=40,
)
HARDWARE = st.dictionaries(
    st.sampled_from(DEVICES[:-1]),  # the last device has no hardware: the unknown model
    st.builds(
        Hardware,
        st.sampled_from([None, "HP", "QEMU", "Dell Inc.", OTHER]),
        st.sampled_from([None, "M1", "M2", 'bad "name"', OTHER, "HP M1"]),
        st.none(),
        st.sampled_from([None, "ssd", "hdd"]),
    ),
)
BOOTS = st.lists(
    st.builds(BootTotal, st.sampled_from([*DEVICES, "no-row"]), STARTS, TOTALS), max_size=20
)


def percentile(ordered: list[float], p: int) -> float | None:
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (rank - lo) * (ordered[hi] - ordered[lo])


def reference_figures(totals: list[float | None]) -> tuple[object, ...]:
    known = sorted(t for t in totals if t is not None)
    return (
        len(totals),
        len(known),
        sum(1 for t in known if t <= SLO_SECONDS),
        sum(1 for t in known if t >= 1800.0),
        {50: percentile(known, 50), 95: percentile(known, 95)},
    )


def as_tuple(f: object) -> tuple[object, ...]:
    return (f.signins, f.known, f.within_slo, f.long, f.percentiles)  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(SIGNINS, st.sets(st.sampled_from([*SITES, "quiet"])))
def test_window_figures_equal_a_per_row_computation(
    rows: list[SigninTotal], sites: set[str]
) -> None:
    got = windows(rows, UNTIL, sites)
    sla = [r for r in rows if not r.flagged and UNTIL - 28 * DAY <= r.started_at < UNTIL]
    every_site = {r.site for r in sla} | sites
    assert set(got.sites) == {(w, s) for w in WINDOWS for s in every_site}
    for name, span in WINDOWS.items():
        inside = [r for r in sla if r.started_at >= UNTIL - span]
        assert as_tuple(got.fleet[name]) == reference_figures([r.total_seconds for r in inside])
        for site in every_site:
            mine = [r.total_seconds for r in inside if r.site == site]
            assert as_tuple(got.sites[(name, site)]) == reference_figures(mine), (name, site)


def reference_models(
    hardware: dict[str, Hardware], rows: list[SigninTotal], boots: list[BootTotal], top_n: int
) -> object:
    """The by-model figures as computed per row before the columns: labels capped here,
    figures by the report's by_model."""
    sla = [s for s in rows if not s.flagged]
    active = {e.device_id for e in sla} | {b.device_id for b in boots}
    per_model: dict[tuple[str | None, str], int] = {}
    for dev in active:
        hw = hardware.get(dev)
        if hw is not None and hw.model is not None:
            per_model[(hw.manufacturer, hw.model)] = (
                per_model.get((hw.manufacturer, hw.model), 0) + 1
            )
    named = sorted(per_model, key=lambda k: (-per_model[k], k[0] or "", k[1]))
    keep = {k for k in named[:top_n] if _clean(k[0] or "x") and _clean(k[1])}
    capped = {
        dev: hw
        if hw.model is None or (hw.manufacturer, hw.model) in keep
        else Hardware(OTHER, OTHER, hw.memory_bytes, hw.system_disk)
        for dev, hw in hardware.items()
        if dev in active
    }
    return by_model(capped, sla, boots)


@settings(max_examples=300, deadline=None)
@given(HARDWARE, SIGNINS, BOOTS, st.integers(0, 4))
def test_model_figures_equal_a_per_row_computation(
    hardware: dict[str, Hardware], rows: list[SigninTotal], boots: list[BootTotal], top_n: int
) -> None:
    assert models(hardware, rows, boots, top_n) == reference_models(hardware, rows, boots, top_n)


def test_one_sign_in_and_none() -> None:
    one = windows([SigninTotal("d0", "north", UNTIL - 1, 30.0, False)], UNTIL, {"south"})
    assert as_tuple(one.fleet["24h"]) == (1, 1, 1, 0, {50: 30.0, 95: 30.0})
    assert as_tuple(one.sites[("28d", "south")]) == (0, 0, 0, 0, {50: None, 95: None})
    empty = windows([], UNTIL, set())
    assert as_tuple(empty.fleet["7d"]) == (0, 0, 0, 0, {50: None, 95: None})
    assert empty.sites == {}
    assert models({}, [], []).models == []


def test_models_equal_in_every_ordering_figure_keep_the_order_their_events_came_in() -> None:
    hardware = {"d0": Hardware("HP", "HP M1"), "d1": Hardware("HP", "M1")}  # both "HP M1"
    boots = [BootTotal("d1", UNTIL, 30.0), BootTotal("d0", UNTIL, 30.0)]
    got = models(hardware, [], boots)
    assert [m.model for m in got.models] == ["M1", "HP M1"]
    assert got == reference_models(hardware, [], boots, 20)


def test_events_of_devices_without_a_row_are_dropped_or_get_a_row_less_device() -> None:
    codes = DeviceCodes([("d0", "north", "HP", "M1", "hdd"), ("d1", "south", "HP", None, None)])
    signins = codes.events([("d0", 1.0, 30.0), ("ghost", 2.0, 40.0), ("d1", 3.0, None)], False)
    assert signins.device.tolist() == [0, 1]
    assert signins.at.tolist() == [1.0, 3.0]
    assert signins.total[0] == 30.0 and math.isnan(signins.total[1])
    boots = codes.events([("ghost", 4.0, 50.0), ("d0", 5.0, 60.0), ("ghost", 6.0, None)], True)
    assert boots.device.tolist() == [2, 0, 2]  # one row-less device for both boots
    devices = codes.devices()
    assert devices.ids == ["d0", "d1", "ghost"]
    assert [devices.sites[c] for c in devices.site] == ["north", "south", ""]
    unknown = UNKNOWN_MODEL
    assert [devices.models[c] for c in devices.model] == [("HP", "M1"), unknown, unknown]
    assert devices.hdd.tolist() == [True, False, False]
    assert devices.disk_known.tolist() == [True, False, False]
