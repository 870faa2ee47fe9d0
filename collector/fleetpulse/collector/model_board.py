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

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleetpulse.collector.model import BootTotal, Hardware, SigninDuration, SigninTotal
from fleetpulse.collector.report.models import UNKNOWN, ModelFigures, ModelSection, by_model

MODEL_LABEL_MAX = 20  # models named in the by-model series; the rest are "other"
WINDOW_SECONDS = 28 * 86400.0  # the SLO's window, as the report's default period
OTHER = "other"
_POOLED = Hardware(OTHER, OTHER)


def _clean(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isprintable() and '"' not in value and "\\" not in value


def compute(
    hardware: dict[str, Hardware],
    signins: Iterable[SigninDuration | SigninTotal],
    boots: Iterable[BootTotal],
    top_n: int = MODEL_LABEL_MAX,
) -> ModelSection:
    """The window's figures per model, at most ``top_n`` named models (most devices first,
    then by name) plus "other" and "unknown"."""
    sla = [s for s in signins if not s.flagged]
    boots = list(boots)
    active = {e.device_id for e in sla} | {b.device_id for b in boots}
    per_model: dict[tuple[str | None, str], int] = {}
    for dev in active:
        hw = hardware.get(dev)
        if hw is not None and hw.model is not None:
            key = (hw.manufacturer, hw.model)
            per_model[key] = per_model.get(key, 0) + 1
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
