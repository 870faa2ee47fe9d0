"""Applications: which ones people use, how often they start them, and how often they crash.

The application metrics carry only an ``app`` label (top-N plus an allowlist, the rest
``other``): no site or OS filter here.
"""

from __future__ import annotations

from .board import custom_variable, dashboard, query_variable
from .model import Json, bargauge, row, table, target, timeseries
from .promql import increase, rate

APP = 'app=~"$app"'
FOREGROUND = "fleetpulse_app_foreground_seconds_total"
LAUNCHES = "fleetpulse_app_launches_total"
CRASHES = "fleetpulse_app_crashes_total"

# Apps with less use than this in the range give meaningless crash rates.
MIN_HOURS_FOR_CRASH_RATE = 1


def foreground_hours(window: str = "$__range") -> str:
    return f"{increase(FOREGROUND, APP, by='app', window=window)} / 3600"


def crashes_per_hour_of_use() -> str:
    return (
        f"{increase(CRASHES, APP, by='app')}\n/\n"
        f"({foreground_hours()} >= {MIN_HOURS_FOR_CRASH_RATE})"
    )


def build() -> Json:
    panels = [
        row("Use (selected time range)"),
        bargauge(
            "Top apps by foreground time",
            [target(f"topk($top, {foreground_hours()})", "{{app}}", instant=True)],
            unit="h",
            h=10,
            description="Hours each application was the foreground window, fleet-wide. "
            "Wayland sessions usually cannot tell the foreground window.",
        ),
        bargauge(
            "Top apps by launches",
            [
                target(
                    f"topk($top, round({increase(LAUNCHES, APP, by='app')}))",
                    "{{app}}",
                    instant=True,
                )
            ],
            unit="short",
            decimals=0,
            h=10,
            description="Application starts in the selected time range.",
        ),
        timeseries(
            "People using each app (foreground)",
            [target(f"topk($top, {rate(FOREGROUND, APP, by='app')})", "{{app}}")],
            unit="short",
            stack=True,
            w=24,
            description="Foreground seconds per second: on average, how many people had the "
            "app in front of them at that moment.",
        ),
        timeseries(
            "Launches per hour",
            [target(f"topk($top, {rate(LAUNCHES, APP, by='app')} * 3600)", "{{app}}")],
            unit="short",
            w=24,
            description="Application starts per hour.",
        ),
        row("Stability"),
        bargauge(
            "Crashes per hour of use",
            [target(f"topk($top, {crashes_per_hour_of_use()})", "{{app}}", instant=True)],
            unit="short",
            decimals=2,
            description="Crashes divided by foreground hours in the selected time range, for "
            f"apps used at least {MIN_HOURS_FOR_CRASH_RATE} hour (fewer hours "
            "give meaningless ratios).",
        ),
        timeseries(
            "Crashes per hour",
            [target(f"topk($top, {rate(CRASHES, APP, by='app')} * 3600)", "{{app}}")],
            unit="short",
            bars=True,
            stack=True,
            description="Application crashes per hour (Windows Application Error 1000; "
            "abnormal exits elsewhere).",
        ),
        table(
            "Applications",
            [
                target(foreground_hours()),
                target(f"round({increase(LAUNCHES, APP, by='app')})"),
                target(f"round({increase(CRASHES, APP, by='app')})"),
                target(crashes_per_hour_of_use()),
            ],
            unit="short",
            labels=["app"],
            values=["Foreground hours", "Launches", "Crashes", "Crashes per hour of use"],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Foreground hours"},
                    "properties": [{"id": "unit", "value": "h"}],
                }
            ],
            sort_by="Foreground hours",
            h=10,
            description="Every application label in the selected time range.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-applications",
        title="fleetpulse / Applications",
        description="Top applications by foreground time, launches, and crashes per hour of use.",
        panels=panels,
        variables=[
            query_variable("app", "Application", f"label_values({FOREGROUND}, app)"),
            custom_variable("top", "Top", ["5", "10", "20", "50"], "10"),
        ],
        time_from="now-7d",
    )
