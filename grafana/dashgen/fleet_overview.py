"""Fleet overview: is the fleet healthy now, and are the 30-minute sign-ins gone?"""

from __future__ import annotations

from . import hardware
from .board import custom_variable, dashboard, query_variable
from .links import device_link
from .model import Json, row, stat, steps, table, target, timeseries
from .promql import (
    OS,
    P95,
    REPORTING,
    SITE,
    SITE_OS,
    SLA_SECONDS,
    WINDOW,
    WINDOW_CHOICES,
    WINDOW_DEFAULT,
    devices,
    increase,
    per_site,
    quantile,
    sel,
    window_count,
    window_within_slo,
)

LOGIN = "fleetpulse_login_duration_seconds"
BOOT = "fleetpulse_boot_duration_seconds"

SLA_COLOURS = steps(("red", None), ("orange", 0.9), ("green", 0.95))
WAITING_COLOURS = steps(("green", None), ("orange", 300), ("red", 600))
EVENT_TIME = "By event time over the window picked in the Window variable (not the time range): "


def window_variable() -> Json:
    return custom_variable("window", "Window (event time)", WINDOW_CHOICES, WINDOW_DEFAULT)


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
        row("Sign-in, last $window by event time: the SLA report's figures"),
        stat(
            "Sign-ins",
            [target(window_count("signins", SITE), instant=True)],
            unit="short",
            decimals=0,
            description=EVENT_TIME + "Sign-ins that started in the window (first-login and "
            "after-update ones out, unknown durations in), from the store.",
        ),
        stat(
            "Within 120 s",
            [target(window_within_slo(SITE), instant=True)],
            unit="percentunit",
            decimals=2,
            thresholds=SLA_COLOURS,
            description=EVENT_TIME + "Share of the sign-ins with a known duration that "
            "reached a responsive desktop within the 120 s target.",
        ),
        stat(
            "Took 30 min or more",
            [target(window_count("long", SITE), instant=True)],
            unit="short",
            decimals=0,
            thresholds=steps(("green", None), ("red", 1)),
            description=EVENT_TIME + "Sign-ins of 1800 s or more that started in the window.",
        ),
        stat(
            "p95",
            [
                target(
                    f"max by (site) (fleetpulse_login_window_seconds{sel(WINDOW, SITE, P95)})",
                    "{{site}}",
                    instant=True,
                ),
                target(
                    f"max(fleetpulse_login_window_fleet_seconds{sel(WINDOW, P95)})",
                    "all sites",
                    instant=True,
                ),
            ],
            unit="s",
            thresholds=steps(("green", None), ("red", SLA_SECONDS)),
            description=EVENT_TIME + "Exact 95th percentile of the known durations "
            "(linear between closest ranks, as the report), per selected site and for all "
            "sites (a percentile of several sites is not one of theirs). No value: no "
            "known duration.",
        ),
        stat(
            "Figures as of",
            [
                target(
                    "max(fleetpulse_login_window_end_timestamp_seconds) * 1000",
                    instant=True,
                )
            ],
            unit="dateTimeFromNow",
            description="End of the windows: the collector recomputes them from the store "
            "every sixth fleet-state refresh (a minute by default). "
            "`fleetpulse-collector report --since END-W --until END` gives the same figures.",
        ),
        stat(
            "30 min or more, ended in the last hour",
            [target(per_site("fleetpulse_logins_long_ended_last_hour", SITE_OS), instant=True)],
            unit="short",
            decimals=0,
            thresholds=steps(("green", None), ("red", 1)),
            description="Sign-ins of 1800 s or more (flagged ones too) that ended in the "
            "last hour by event time, however late they were delivered: what the "
            "FleetpulseLoginTook30MinutesOrMore alert fires on.",
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
        table(
            "Waiting now: sign-ins in progress over 10 min",
            [
                target(
                    "max by (site, hostname, device_id) "
                    f"(fleetpulse_login_in_progress_over_threshold{sel(SITE)})"
                )
            ],
            unit="s",
            labels=["hostname", "site", "device_id"],
            values=["In progress for"],
            sort_by="In progress for",
            h=6,
            overrides=[device_link("hostname")],
            description="Who is waiting: each device whose sign-in has been in progress "
            "for more than 10 minutes (the 20 longest), as the "
            "FleetpulseLoginInProgressTooLong alert names them. Click a hostname for the "
            "Device board.",
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
        *hardware.panels(),
    ]
    return dashboard(
        uid="fleetpulse-fleet-overview",
        title="fleetpulse / Fleet overview",
        description="Sign-in and boot durations, the 120 s target, 30-minute sign-ins, "
        "sign-ins in progress, reporting devices, staff-hours lost waiting and the times "
        "by hardware model.",
        panels=panels,
        variables=[site_variable(), os_variable(), window_variable()],
    )
