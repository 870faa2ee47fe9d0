"""Device: one device's sign-in and boot history, and the slowest devices of a site.

Needs the collector's per-device mode (``serve --per-device-metrics``); without it the
per-device gauges do not exist and this board stays empty.
"""

from __future__ import annotations

from .board import dashboard, query_variable
from .fleet_overview import site_variable
from .links import device_link
from .model import Json, bargauge, row, stat, steps, table, target, timeseries
from .promql import PER_DEVICE_LABELS, SITE, per_device, sel

LAST_LOGIN = "fleetpulse_device_last_login_seconds"
LAST_BOOT = "fleetpulse_device_last_boot_seconds"
LAST_SEEN = "fleetpulse_device_last_seen_timestamp_seconds"
LAST_CONTRIBUTORS = "fleetpulse_device_last_login_contributor_seconds"

DEVICE = 'device_id=~"$device_id"'
HOST = 'hostname=~"$hostname"'
SLA_LINE = steps(("green", None), ("red", 120))
SILENCE_COLOURS = steps(("green", None), ("orange", 3600), ("red", 86400))
SLOWEST = 20


def this_device(metric: str) -> str:
    return per_device(metric, SITE, HOST, DEVICE)


def latest_contributors() -> str:
    """The named contributors of this device's latest sign-in, once per device and name."""
    return (
        f"max by ({PER_DEVICE_LABELS}, kind, name) ({LAST_CONTRIBUTORS}{sel(SITE, HOST, DEVICE)})"
    )


def slowest() -> str:
    return f"topk({SLOWEST}, {per_device(LAST_LOGIN, SITE)})"


def build() -> Json:
    panels = [
        row("This device"),
        stat(
            "Last sign-in",
            [target(this_device(LAST_LOGIN), "{{hostname}}", instant=True)],
            unit="s",
            thresholds=SLA_LINE,
            w=6,
            description="Duration of the device's latest sign-in.",
        ),
        stat(
            "Last boot",
            [target(this_device(LAST_BOOT), "{{hostname}}", instant=True)],
            unit="s",
            w=6,
            description="Duration of the device's latest boot.",
        ),
        stat(
            "Last report",
            [target(f"{this_device(LAST_SEEN)} * 1000", "{{hostname}}", instant=True)],
            unit="dateTimeFromNow",
            w=6,
            description="When the device last reported to a collector.",
        ),
        stat(
            "Silent for",
            [target(f"time() - {this_device(LAST_SEEN)}", "{{hostname}}", instant=True)],
            unit="s",
            thresholds=SILENCE_COLOURS,
            w=6,
            description="Time since the last report: stale after 1 hour, silent after 24.",
        ),
        bargauge(
            "Latest sign-in: what it waited for",
            [target(latest_contributors(), "{{kind}} — {{name}}", instant=True)],
            unit="s",
            w=24,
            h=6,
            description="The largest named parts of the device's latest sign-in (at most 3): "
            "a group policy extension, logon script, startup application or the profile "
            "type, as Windows logs them. Empty for a sign-in that names none (Linux, or "
            "nothing logged).",
        ),
        timeseries(
            "Sign-in duration history",
            [target(this_device(LAST_LOGIN), "{{hostname}}")],
            unit="s",
            thresholds=SLA_LINE,
            threshold_line=True,
            step=True,
            w=24,
            description="The latest sign-in duration over time: each step is a new sign-in. "
            "The dashed line is the 120 s target.",
        ),
        timeseries(
            "Boot duration history",
            [target(this_device(LAST_BOOT), "{{hostname}}")],
            unit="s",
            step=True,
            description="The latest boot duration over time: each step is a new boot.",
        ),
        timeseries(
            "Time since last report",
            [target(f"time() - {this_device(LAST_SEEN)}", "{{hostname}}")],
            unit="s",
            thresholds=SILENCE_COLOURS,
            threshold_line=True,
            description="Gaps in reporting: the device was off, offline or the agent stopped.",
        ),
        row("Slowest devices (site filter)"),
        table(
            f"Slowest last sign-ins (top {SLOWEST})",
            [
                target(slowest()),
                target(f"{per_device(LAST_BOOT, SITE)}\nand on (device_id)\n{slowest()}"),
                target(
                    f"(time() - {per_device(LAST_SEEN, SITE)})\nand on (device_id)\n{slowest()}"
                ),
            ],
            unit="s",
            labels=["hostname", "device_id", "site"],
            values=["Last sign-in", "Last boot", "Since last report"],
            sort_by="Last sign-in",
            h=12,
            overrides=[device_link("hostname")],
            description="Devices whose latest sign-in took longest; click a hostname (or "
            "pick it in the hostname variable above) to see its history.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-device",
        title="fleetpulse / Device",
        description="One device's sign-in and boot history and last report (collector "
        "--per-device-metrics), and the slowest devices.",
        panels=panels,
        variables=[
            site_variable(),
            query_variable(
                "hostname",
                "Hostname",
                f'label_values({LAST_SEEN}{{site=~"$site"}}, hostname)',
                multi=False,
            ),
            query_variable(
                "device_id",
                "Device id",
                f'label_values({LAST_SEEN}{{site=~"$site", hostname=~"$hostname"}}, device_id)',
                multi=False,
            ),
        ],
        time_from="now-7d",
    )
