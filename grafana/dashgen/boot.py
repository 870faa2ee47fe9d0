"""Boot: durations, where boot time goes, boot types and degraded boots."""

from __future__ import annotations

from .board import dashboard
from .fleet_overview import os_variable, site_variable
from .model import Json, bargauge, piechart, row, stat, steps, target, timeseries
from .promql import OS, SITE_OS, increase, mean, quantile, rate, top_named

BOOT = "fleetpulse_boot_duration_seconds"
PHASE = "fleetpulse_boot_phase_duration_seconds"
BOOTS = "fleetpulse_boots_total"
DEGRADED_TRUE = 'degraded="true"'
DEGRADED_KNOWN = 'degraded!="unknown"'
CULPRITS = "fleetpulse_boot_culprit_seconds_total"
TOP_CULPRITS = 15


def build() -> Json:
    degraded_share = (
        increase(BOOTS, SITE_OS, DEGRADED_TRUE) + "\n/\n" + increase(BOOTS, SITE_OS, DEGRADED_KNOWN)
    )
    panels = [
        row("Boot durations"),
        stat(
            "Boots",
            [target(f"round({increase(BOOTS, SITE_OS)})", instant=True)],
            unit="short",
            decimals=0,
            w=6,
            description="Boots counted in the selected time range (all boot types).",
        ),
        stat(
            "Boot p95",
            [target(quantile(0.95, BOOT, SITE_OS, window="$__range"), instant=True)],
            unit="s",
            w=6,
            description="95th percentile boot duration over the selected range.",
        ),
        stat(
            "Degraded boots",
            [target(degraded_share, instant=True)],
            unit="percentunit",
            w=6,
            thresholds=steps(("green", None), ("orange", 0.05), ("red", 0.2)),
            description="Share of boots Windows flagged as degraded (BootIsDegradation), "
            "among boots where that is known.",
        ),
        stat(
            "Fast Startup / resume share",
            [
                target(
                    increase(BOOTS, SITE_OS, 'boot_type=~"fast_startup|resume"')
                    + "\n/\n"
                    + increase(BOOTS, SITE_OS),
                    instant=True,
                )
            ],
            unit="percentunit",
            w=6,
            description="Boots that were not cold boots: Fast Startup and resume are "
            "shorter and hide slow cold boots.",
        ),
        timeseries(
            "Boot duration percentiles",
            [target(quantile(q, BOOT, SITE_OS), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
            unit="s",
            w=24,
            description="Boot to sign-in screen ready plus post-boot settle time; histogram "
            "estimates. The histogram has no boot type: a shift between cold "
            "boots and Fast Startup moves these lines too.",
        ),
        timeseries(
            "Boot p95 by site",
            [target(quantile(0.95, BOOT, SITE_OS, by="site"), "{{site}}")],
            unit="s",
            description="95th percentile boot duration per site.",
        ),
        timeseries(
            "Boot p95 by OS",
            [target(quantile(0.95, BOOT, SITE_OS, by="os"), "{{os}}")],
            unit="s",
            description="95th percentile boot duration per OS.",
        ),
        row("Phases (OS filter only)"),
        timeseries(
            "Boot phase p95",
            [target(quantile(0.95, PHASE, OS, by="phase"), "{{phase}}")],
            unit="s",
            description="95th percentile per phase. Windows: main_path, post_boot and their "
            "parts (kernel_init, driver_init, ...). Linux: firmware, loader, "
            "kernel, initrd, userspace, login_screen.",
        ),
        bargauge(
            "Mean time per boot phase",
            [target(mean(PHASE, OS, by="phase"), "{{phase}}", instant=True)],
            unit="s",
            description="Average seconds per phase over the selected time range.",
        ),
        row("Boot types and degraded boots"),
        piechart(
            "Boot types",
            [target(increase(BOOTS, SITE_OS, by="boot_type"), "{{boot_type}}", instant=True)],
            unit="short",
            description="cold, fast_startup (Windows hybrid boot), resume, or unknown.",
        ),
        timeseries(
            "Boots per hour by type",
            [target(f"{rate(BOOTS, SITE_OS, by='boot_type')} * 3600", "{{boot_type}}")],
            unit="short",
            stack=True,
            w=9,
            description="Boots per hour, by boot type.",
        ),
        timeseries(
            "Degraded boots per hour by site",
            [target(f"{rate(BOOTS, SITE_OS, DEGRADED_TRUE, by='site')} * 3600", "{{site}}")],
            unit="short",
            stack=True,
            w=9,
            description="Boots Windows flagged as degraded, per hour and site.",
        ),
        row("The why: boot culprits (Windows, fleet-wide, no site or OS filter)"),
        bargauge(
            "What slows boots, fleet-wide",
            [target(top_named(CULPRITS, TOP_CULPRITS), "{{kind}} — {{name}}", instant=True)],
            unit="s",
            h=10,
            description=f"The {TOP_CULPRITS} culprits with the most added boot seconds in the "
            "selected time range, counted when ingested: what Windows names in "
            "Diagnostics-Performance events 101-110 (application, driver, service, ...; "
            "DegradationTime, else TotalTime). Names are capped like app names: the rest of "
            "a kind is 'other'. Linux boots name none.",
        ),
        timeseries(
            "Culprit time per hour, by kind",
            [target(f"{rate(CULPRITS, by='kind')} * 3600", "{{kind}}")],
            unit="s",
            description="Seconds Windows says culprits added to boots per hour, by kind.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-boot",
        title="fleetpulse / Boot",
        description="Boot durations and phases, boot types (cold, Fast Startup, resume) and "
        "degraded boots.",
        panels=panels,
        variables=[site_variable(), os_variable()],
    )
