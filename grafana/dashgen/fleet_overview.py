"""Fleet overview: is the fleet healthy now, and are the 30-minute sign-ins gone?"""

from __future__ import annotations

from .board import dashboard, query_variable
from .model import Json, row, stat, steps, target, timeseries
from .promql import (
    OS,
    REPORTING,
    SITE,
    SITE_OS,
    at_least_30_min,
    devices,
    increase,
    per_site,
    quantile,
    within_sla,
)

LOGIN = "fleetpulse_login_duration_seconds"
BOOT = "fleetpulse_boot_duration_seconds"

SLA_COLOURS = steps(("red", None), ("orange", 0.9), ("green", 0.95))
WAITING_COLOURS = steps(("green", None), ("orange", 300), ("red", 600))


def site_variable() -> Json:
    return query_variable("site", "Site", "label_values(fleetpulse_devices, site)")


def os_variable() -> Json:
    return query_variable("os", "OS", 'label_values(fleetpulse_devices{site=~"$site"}, os)')


def percentiles(histogram: str) -> list[Json]:
    return [
        target(quantile(q, histogram, SITE_OS), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)
    ]


def build() -> Json:
    panels = [
        row("Sign-in (selected time range)"),
        stat(
            "Sign-ins",
            [target(f"round({increase(LOGIN + '_count', SITE_OS)})", instant=True)],
            unit="short",
            decimals=0,
            description="Sign-ins counted by the collector in the selected time range "
            "(counted when ingested).",
        ),
        stat(
            "Within 120 s",
            [target(within_sla(LOGIN, SITE_OS), instant=True)],
            unit="percentunit",
            thresholds=SLA_COLOURS,
            description="Share of sign-ins that reached a responsive desktop within the "
            '120 s target (le="120.0" bucket / count).',
        ),
        stat(
            "Took 30 min or more",
            [target(at_least_30_min(LOGIN, SITE_OS), instant=True)],
            unit="short",
            decimals=0,
            thresholds=steps(("green", None), ("red", 1)),
            description='Sign-ins of 1800 s or more: count minus the le="1800.0" bucket.',
        ),
        stat(
            "In progress now",
            [target(per_site("fleetpulse_logins_in_progress", SITE), instant=True)],
            unit="short",
            decimals=0,
            description="Sign-ins started and not yet at a responsive desktop (all OS).",
        ),
        stat(
            "Longest in progress",
            [target(f"max(fleetpulse_login_in_progress_longest_seconds{{{SITE}}})", instant=True)],
            unit="s",
            thresholds=WAITING_COLOURS,
            description="How long the longest sign-in still in progress has lasted so far. "
            "Alerted on past 10 minutes.",
        ),
        stat(
            "Devices reporting / expected",
            [
                target(
                    f"{devices(SITE, REPORTING)}\n/\n"
                    f"{per_site('fleetpulse_devices_expected', SITE)}",
                    instant=True,
                )
            ],
            unit="percentunit",
            thresholds=SLA_COLOURS,
            description="Devices that reported within the last hour, as a share of the "
            "devices expected from the inventory (all OS: the inventory has "
            "no OS).",
        ),
        timeseries(
            "Sign-in duration percentiles",
            percentiles(LOGIN),
            unit="s",
            thresholds=steps(("green", None), ("red", 120)),
            threshold_line=True,
            description="Histogram estimates from the ingested sign-ins; the dashed "
            "line is the 120 s target. Exact percentiles: the SLA report.",
        ),
        timeseries(
            "Sign-in p95 by site",
            [target(quantile(0.95, LOGIN, SITE_OS, by="site"), "{{site}}")],
            unit="s",
            thresholds=steps(("green", None), ("red", 120)),
            threshold_line=True,
            description="95th percentile sign-in duration per site.",
        ),
        row("Boot"),
        timeseries(
            "Boot duration percentiles",
            percentiles(BOOT),
            unit="s",
            description="Boot to sign-in screen ready plus post-boot settle time; "
            "histogram estimates.",
        ),
        timeseries(
            "Boot p95 by OS",
            [target(quantile(0.95, BOOT, SITE_OS, by="os"), "{{os}}")],
            unit="s",
            description="95th percentile boot duration per OS.",
        ),
        row("Devices and people"),
        timeseries(
            "Devices reporting vs expected",
            [
                target(devices(SITE, OS, REPORTING), "reporting"),
                target(devices(SITE, OS), "enrolled"),
                target(per_site("fleetpulse_devices_expected", SITE), "expected"),
            ],
            unit="short",
            description="Reporting: a report within the last hour. Enrolled: "
            "every state. Expected: the imported inventory.",
        ),
        timeseries(
            "Sign-ins in progress",
            [
                target(per_site("fleetpulse_logins_in_progress", SITE, by="site"), "{{site}}"),
            ],
            unit="short",
            stack=True,
            description="Sign-ins started and not yet at a responsive desktop, per site.",
        ),
        timeseries(
            "Staff-hours lost waiting per week",
            [
                target(
                    f"{increase('fleetpulse_wait_seconds_total', SITE, by='kind', window='1w')}"
                    " / 3600",
                    "{{kind}}",
                ),
            ],
            unit="h",
            stack=True,
            interval="1h",
            description="Hours people spent waiting for boot and sign-in over the 7 days "
            "before each point: compare before and after a change.",
        ),
        stat(
            "Staff-hours lost waiting, last 7 days",
            [
                target(
                    f"{increase('fleetpulse_wait_seconds_total', SITE, by='kind', window='1w')}"
                    " / 3600",
                    "{{kind}}",
                    instant=True,
                )
            ],
            unit="h",
            w=12,
            h=8,
            graph=False,
            description="Hours spent waiting for boot and for sign-in in the last 7 days.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-fleet-overview",
        title="fleetpulse / Fleet overview",
        description="Sign-in and boot durations, the 120 s target, 30-minute sign-ins, "
        "sign-ins in progress, reporting devices and staff-hours lost waiting.",
        panels=panels,
        variables=[site_variable(), os_variable()],
    )
