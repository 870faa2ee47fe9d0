"""The by-model view: sign-in and boot times per hardware model over the last 28 days, so
"which models to replace first" has an answer on the boards too.

Reads the collector's ``fleetpulse_model_*`` gauges (collector model_board.py): the SLA
report's by-model figures from the store, labels capped to the 20 models with the most
devices (the rest ``other``). They are fleet-wide (no site label) and, being computed from
the shared database, the same on every collector: ``max by`` their labels.
"""

from __future__ import annotations

from .model import Json, column_unit, row, table, target

MODEL_LABELS = "manufacturer, model"


def _per_model(metric: str, *matchers: str) -> str:
    selector = "{" + ", ".join(matchers) + "}" if matchers else ""
    return f"max by ({MODEL_LABELS}) ({metric}{selector})"


def hdd_share() -> str:
    """Share of a model's devices with a known system disk that boot from an HDD; no value
    when no device's disk is known."""
    known = _per_model("fleetpulse_model_devices_disk_known")
    return f"{_per_model('fleetpulse_model_devices_hdd')}\n/\n({known} > 0)"


def panels() -> list[Json]:
    return [
        row("By model, last 28 days by event time (the SLA report's figures)"),
        table(
            "Sign-in and boot times by model",
            [
                target(_per_model("fleetpulse_model_devices")),
                target(_per_model("fleetpulse_model_logins")),
                target(_per_model("fleetpulse_model_login_seconds", 'quantile="0.5"')),
                target(_per_model("fleetpulse_model_login_seconds", 'quantile="0.95"')),
                target(_per_model("fleetpulse_model_boot_seconds", 'quantile="0.95"')),
                target(hdd_share()),
            ],
            unit="s",
            labels=["manufacturer", "model"],
            values=["Devices", "Sign-ins", "Sign-in p50", "Sign-in p95", "Boot p95", "On HDD"],
            sort_by="Sign-in p95",
            h=10,
            overrides=[
                column_unit("Devices", "none"),
                column_unit("Sign-ins", "none"),
                column_unit("On HDD", "percentunit"),
            ],
            description="Per hardware model (SMBIOS manufacturer and model from the agents): "
            "devices with a sign-in or boot in the last 28 days, their SLA sign-ins, exact "
            "sign-in p50/p95 and boot p95, and the share of them booting from an HDD. The 20 "
            "models with the most devices are named, the rest are other; slowest sign-in p95 "
            "first. The report ranks only models with 20 sign-ins or more.",
        ),
    ]
