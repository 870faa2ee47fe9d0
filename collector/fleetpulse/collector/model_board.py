"""The boards' by-model figures: per (manufacturer, model), the devices, SLA sign-ins and
boots of the last 28 days by event time, computed from the store at refresh with the
report's rules (fleetpulse.collector.report.models), and rendered as bounded gauges.

Labels are bounded: the MODEL_LABEL_MAX models with the most devices keep their names; the
rest are pooled as manufacturer="other", model="other" (its percentiles are over the pooled
durations). Devices whose model is unknown, and names that cannot be a clean label value
(quotes, backslashes, control characters), are manufacturer="unknown", model="unknown" and
"other" respectively.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleetpulse.collector.grouped import Grouped
from fleetpulse.collector.model import BootTotal, Hardware, SigninDuration, SigninTotal
from fleetpulse.collector.report.models import (
    UNKNOWN,
    ModelFigures,
    ModelSection,
    model_figures,
    section,
)
from fleetpulse.collector.store.figure_reads import Codes, DeviceCodes, Devices, Events, ModelKey

MODEL_LABEL_MAX = 20  # models named in the by-model series; the rest are "other"
WINDOW_SECONDS = 28 * 86400.0  # the SLO's window, as the report's default period
OTHER = "other"
_POOLED: ModelKey = (OTHER, OTHER)


def _clean(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isprintable() and '"' not in value and "\\" not in value


def from_columns(
    devices: Devices, signins: Events, boots: Events, top_n: int = MODEL_LABEL_MAX
) -> ModelSection:
    """The window's figures per model, at most ``top_n`` named models (most devices first,
    then by name) plus "other" and "unknown", from the window's SLA sign-ins and boots as
    columns (their devices as codes of ``devices``)."""
    active = np.zeros(len(devices.ids), dtype=np.bool_)
    active[signins.device] = True
    active[boots.device] = True
    counted = np.bincount(devices.model[active], minlength=len(devices.models))
    per_model = {
        key: int(counted[code])
        for code, key in enumerate(devices.models)
        if counted[code] and key[1] is not None
    }
    named = sorted(per_model, key=lambda k: (-per_model[k], k[0] or "", k[1] or ""))
    keep = {k for k in named[:top_n] if _clean(k[0] or "x") and _clean(k[1] or "")}
    groups: dict[ModelKey, int] = {}
    group_of = np.array(
        [
            groups.setdefault(k if k[1] is None or k in keep else _POOLED, len(groups))
            for k in devices.models
        ],
        dtype=np.intp,
    )[devices.model]  # per device
    n = len(groups)
    signin_group, boot_group = group_of[signins.device], group_of[boots.device]
    on = np.flatnonzero(active)
    on_group = group_of[on]
    counts = (
        np.bincount(on_group, minlength=n),
        np.bincount(on_group[devices.hdd[on]], minlength=n),
        np.bincount(on_group[devices.disk_known[on]], minlength=n),
    )
    timed = Grouped(signin_group, signins.total, n), Grouped(boot_group, boots.total, n)
    keys = list(groups)
    return section(
        model_figures(
            keys[g],
            int(counts[0][g]),
            (int(counts[1][g]), int(counts[2][g])),
            timed[0].count(g),
            timed[0].known(g),
            timed[1].count(g),
            timed[1].known(g),
        )
        for g in _first_seen(np.concatenate((signin_group, boot_group)))
    )


def _first_seen(groups: Codes) -> list[int]:
    """The distinct codes of ``groups`` in the order they first occur (the order the
    per-row code met the models in; equal models keep it in the ordering)."""
    distinct, first = np.unique(groups, return_index=True)
    return [int(g) for g in distinct[np.argsort(first)]]


def compute(
    hardware: dict[str, Hardware],
    signins: Iterable[SigninDuration | SigninTotal],
    boots: Iterable[BootTotal],
    top_n: int = MODEL_LABEL_MAX,
) -> ModelSection:
    """``from_columns`` of rows: each device's hardware (devices of an event without
    hardware count under the unknown model), the window's sign-ins (flagged ones are left
    out here) and boots."""
    codes = DeviceCodes(
        (dev, "", hw.manufacturer, hw.model, hw.system_disk) for dev, hw in hardware.items()
    )
    sla = codes.events(
        ((s.device_id, 0.0, s.total_seconds) for s in signins if not s.flagged), True
    )
    booted = codes.events(((b.device_id, b.boot_time, b.total_seconds) for b in boots), True)
    return from_columns(codes.devices(), sla, booted, top_n)


def _labels(m: ModelFigures) -> list[str]:
    if m.model is None:
        return [UNKNOWN, UNKNOWN]
    return [m.manufacturer or UNKNOWN, m.model]


class ModelBoardCollector(Collector):
    """Renders the latest by-model figures (refreshed off the scrape path, like the fleet
    state)."""

    def __init__(self) -> None:
        self.section: ModelSection | None = None

    def update(self, section: ModelSection) -> None:
        self.section = section

    def collect(self) -> Iterator[Metric]:
        if self.section is None:
            return
        labels = ["manufacturer", "model"]
        window = "in the last 28 days (event time), per model (top 20 by devices, rest other)"
        devices = GaugeMetricFamily(
            "fleetpulse_model_devices",
            f"Devices with a sign-in or a boot {window}.",
            labels=labels,
        )
        hdd = GaugeMetricFamily(
            "fleetpulse_model_devices_hdd",
            f"Of fleetpulse_model_devices, those whose system disk is an HDD {window}.",
            labels=labels,
        )
        disk_known = GaugeMetricFamily(
            "fleetpulse_model_devices_disk_known",
            f"Of fleetpulse_model_devices, those whose system disk type is known {window}.",
            labels=labels,
        )
        logins = GaugeMetricFamily(
            "fleetpulse_model_logins",
            f"SLA sign-ins (first-login and after-update ones out) {window}.",
            labels=labels,
        )
        login_seconds = GaugeMetricFamily(
            "fleetpulse_model_login_seconds",
            f"Exact p50/p95 of the SLA sign-in durations {window} (no series: no known duration).",
            labels=[*labels, "quantile"],
        )
        boot_seconds = GaugeMetricFamily(
            "fleetpulse_model_boot_seconds",
            f"Exact p50/p95 of the boot durations {window} (no series: no known duration).",
            labels=[*labels, "quantile"],
        )
        for m in self.section.models:
            key = _labels(m)
            devices.add_metric(key, m.devices)
            hdd.add_metric(key, m.devices_hdd)
            disk_known.add_metric(key, m.devices_disk_known)
            logins.add_metric(key, m.signins)
            for q, v in (("0.5", m.signin_p50), ("0.95", m.signin_p95)):
                if v is not None:
                    login_seconds.add_metric([*key, q], v)
            for q, v in (("0.5", m.boot_p50), ("0.95", m.boot_p95)):
                if v is not None:
                    boot_seconds.add_metric([*key, q], v)
        yield from (devices, hdd, disk_known, logins, login_seconds, boot_seconds)
