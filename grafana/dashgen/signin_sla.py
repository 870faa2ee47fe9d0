"""Sign-in SLA: the 28-day SLO (95 % within 120 s), its error budget, and where it fails."""

from __future__ import annotations

from .board import dashboard
from .fleet_overview import SLA_COLOURS, os_variable, site_variable, window_variable
from .model import Json, bargauge, row, stat, steps, target, text, timeseries
from .promql import (
    OBJECTIVE,
    OS,
    SITE,
    SITE_OS,
    WINDOW,
    known_share,
    mean,
    per_site,
    quantile,
    rate,
    top_named,
    within_sla,
)

LOGIN = "fleetpulse_login_duration_seconds"
PHASE = "fleetpulse_login_phase_duration_seconds"
GOOD = "fleetpulse:login_sla_good:ratio_rate"
BURN = "fleetpulse:login_sla_burn_rate:rate"
CONTRIBUTORS = "fleetpulse_login_contributor_seconds_total"
TOP_CONTRIBUTORS = 15

# The 28-day share within 120 s by event time, fleet-wide (the report's --since 28d).
WINDOW_28D = 'window="28d"'
COMPLIANCE_28D = known_share(
    per_site("fleetpulse_login_window_within_slo", WINDOW_28D),
    per_site("fleetpulse_login_window_known_duration", WINDOW_28D),
)


def by_site(name: str) -> str:
    """A window count per selected site (fleet-state gauge: max by site)."""
    return per_site(f"fleetpulse_login_window_{name}", WINDOW, SITE, by="site")


BUDGET_COLOURS = steps(("red", None), ("orange", 0.25), ("green", 0.5))
BURN_COLOURS = steps(("green", None), ("orange", 1), ("red", 6))

ABOUT = (
    "**SLO:** 95 % of sign-ins reach a responsive desktop within **120 s**, over "
    "**28 days**, fleet-wide. *Compliance, 28 days* and the per-site figures are the SLA "
    "report's, by event time from the store (per-site ones over the *Window* variable); "
    "the budget and burn rates come from the recording rules in "
    "`grafana/prometheus/rules/login_slo.yml` over histograms, which count sign-ins when "
    "ingested; the OS and phase panels follow the selected time range."
)


def build() -> Json:
    panels = [
        text("About this board", ABOUT),
        row("SLO, fleet-wide (recording rules)"),
        stat(
            "Compliance, 28 days",
            [target(COMPLIANCE_28D, instant=True)],
            unit="percentunit",
            decimals=2,
            thresholds=SLA_COLOURS,
            description="Share of sign-ins within 120 s over the last 28 days by event "
            "time, from the store: the SLA report's figure (first-login and after-update "
            "sign-ins out). The budget and burn rates beside it come from the histograms.",
        ),
        stat(
            "Target",
            [target(OBJECTIVE, instant=True)],
            unit="percentunit",
            description="The objective, as recorded by fleetpulse:login_sla_objective:ratio.",
        ),
        stat(
            "Error budget left",
            [target(f"1 - {BURN}28d", instant=True)],
            unit="percentunit",
            thresholds=BUDGET_COLOURS,
            graph=True,
            description="Share of the 28-day error budget (5 % of sign-ins may be slow) not "
            "yet spent. Below 0: the SLO is missed.",
        ),
        stat(
            "Burn rate, 1 hour",
            [target(f"{BURN}1h", instant=True)],
            unit="short",
            thresholds=BURN_COLOURS,
            decimals=2,
            description="How fast the budget burns: 1 spends it exactly in 28 days; "
            "14.4 (with the 5-minute rate) pages.",
        ),
        stat(
            "Burn rate, 6 hours",
            [target(f"{BURN}6h", instant=True)],
            unit="short",
            thresholds=BURN_COLOURS,
            decimals=2,
            description="6 (with the 30-minute rate) pages.",
        ),
        stat(
            "Burn rate, 3 days",
            [target(f"{BURN}3d", instant=True)],
            unit="short",
            thresholds=BURN_COLOURS,
            decimals=2,
            description="1 (with the 6-hour rate) raises a ticket.",
        ),
        timeseries(
            "Compliance vs target",
            [
                target(f"{GOOD}1h", "1 hour"),
                target(f"{GOOD}6h", "6 hours"),
                target(f"{GOOD}3d", "3 days"),
                target(f"{GOOD}28d", "28 days"),
                target(OBJECTIVE, "target"),
            ],
            unit="percentunit",
            min_value=None,
            max_value=1,
            description="Share of sign-ins within 120 s over sliding windows, against the "
            "95 % target.",
        ),
        timeseries(
            "Burn rate",
            [
                target(f"{BURN}5m", "5 minutes"),
                target(f"{BURN}1h", "1 hour"),
                target(f"{BURN}6h", "6 hours"),
                target(f"{BURN}3d", "3 days"),
            ],
            unit="short",
            thresholds=steps(("green", None), ("orange", 1), ("red", 14.4)),
            threshold_line=True,
            description="Error ratio / error budget per window. Alerts: 1 h and 5 min above "
            "14.4, 6 h and 30 min above 6, 3 d and 6 h above 1.",
        ),
        row("By site (last $window by event time) and OS (selected time range)"),
        bargauge(
            "Within 120 s by site",
            [
                target(
                    known_share(by_site("within_slo"), by_site("known_duration")),
                    "{{site}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            thresholds=SLA_COLOURS,
            max_value=1,
            decimals=2,
            description="Share of sign-ins within 120 s per site over the window, by event "
            "time: the SLA report's per-site figure.",
        ),
        bargauge(
            "Within 120 s by OS",
            [target(within_sla(LOGIN, SITE_OS, by="os"), "{{os}}", instant=True)],
            unit="percentunit",
            thresholds=SLA_COLOURS,
            max_value=1,
            description="Share of sign-ins within 120 s per OS, counted when ingested "
            "(histograms: the store's figures have no OS breakdown).",
        ),
        bargauge(
            "Sign-ins by site",
            [target(by_site("signins"), "{{site}}", instant=True)],
            unit="short",
            decimals=0,
            description="SLA sign-ins that started in the window per site, by event time.",
        ),
        bargauge(
            "Sign-ins of 30 min or more by site",
            [target(by_site("long"), "{{site}}", instant=True)],
            unit="short",
            decimals=0,
            thresholds=steps(("green", None), ("red", 1)),
            description="SLA sign-ins of 1800 s or more that started in the window per "
            "site, by event time.",
        ),
        timeseries(
            "Within 120 s by site, hourly",
            [target(within_sla(LOGIN, SITE_OS, by="site", window="1h"), "{{site}}")],
            unit="percentunit",
            min_value=None,
            max_value=1,
            interval="5m",
            description="Share of sign-ins within 120 s over the hour before each point.",
        ),
        timeseries(
            "Sign-in p95 by OS",
            [target(quantile(0.95, LOGIN, SITE_OS, by="os"), "{{os}}")],
            unit="s",
            thresholds=steps(("green", None), ("red", 120)),
            threshold_line=True,
            description="95th percentile sign-in duration per OS.",
        ),
        row("Where the time goes: phases (OS filter only)"),
        timeseries(
            "Phase p95",
            [target(quantile(0.95, PHASE, OS, by="phase"), "{{phase}}")],
            unit="s",
            description="95th percentile per phase. core = logon to shell started, "
            "responsive = shell to a calm CPU; the others (profile, group_policy, "
            "gp_scripts, ...) are parts of core, where the platform records them.",
        ),
        bargauge(
            "Mean time per phase",
            [target(mean(PHASE, OS, by="phase"), "{{phase}}", instant=True)],
            unit="s",
            description="Average seconds spent in each phase over the selected time range. "
            "Phases have an OS label but no site label.",
        ),
        row("The why: named contributors (fleet-wide, no site or OS filter)"),
        bargauge(
            "What slows sign-ins, fleet-wide",
            [
                target(
                    top_named(CONTRIBUTORS, TOP_CONTRIBUTORS), "{{kind}} — {{name}}", instant=True
                )
            ],
            unit="s",
            h=10,
            description=f"The {TOP_CONTRIBUTORS} named parts of sign-in time with the most "
            "seconds in the selected time range, counted when ingested: group policy "
            "extensions (gp_extension), logon scripts (gp_script), startup applications "
            "(startup_app) and the profile type (profile), as Windows logs them. Names are "
            "capped like app names: the rest of a kind is 'other'. They overlap (extensions "
            "are parts of group_policy), so they do not add up to the sign-in time.",
        ),
        timeseries(
            "Named contributor time per hour, by kind",
            [target(f"{rate(CONTRIBUTORS, by='kind')} * 3600", "{{kind}}")],
            unit="s",
            description="Seconds of sign-in time per hour that went to each kind of named "
            "contributor, counted when ingested. A rising gp_extension line with a flat "
            "sign-in count is group policy getting slower.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-signin-sla",
        title="fleetpulse / Sign-in SLA",
        description="Sign-in SLO compliance, error budget and burn rate; breakdown by site, "
        "OS and phase.",
        panels=panels,
        variables=[site_variable(), os_variable(), window_variable()],
        time_from="now-7d",
    )
