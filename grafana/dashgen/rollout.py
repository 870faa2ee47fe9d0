"""Rollout: enrolled vs expected per site, agent versions, silent and unused devices, and
whether the collectors ingest cleanly."""

from __future__ import annotations

from .board import dashboard
from .fleet_overview import SLA_COLOURS, os_variable, site_variable
from .model import Json, column_unit, piechart, row, stat, steps, table, target, timeseries
from .promql import OS, SILENT, SITE, devices, per_site, quantile, rate

EXPECTED = "fleetpulse_devices_expected"
UNUSED = "fleetpulse_devices_unused"
RECORDS = "fleetpulse_ingest_records_total"
LAG = "fleetpulse_ingest_lag_seconds"
ATTENTION = steps(("green", None), ("orange", 1))


def coverage(by: str = "") -> str:
    """Enrolled (any state) / expected. The inventory has no OS: site filter only."""
    if by:
        return f"{devices(SITE, by=by)}\n/ on ({by})\n{per_site(EXPECTED, SITE, by=by)}"
    return f"{devices(SITE)}\n/\n{per_site(EXPECTED, SITE)}"


def silent(*matchers: str, by: str = "") -> str:
    """Silent devices; 0 (not "no data") where devices are enrolled and none is silent:
    the collector only exposes states some device is in."""
    return f"{devices(*matchers, SILENT, by=by)}\nor\n0 * {devices(*matchers, by=by)}"


def build() -> Json:
    panels = [
        row("Coverage"),
        stat(
            "Enrolled devices",
            [target(devices(SITE, OS), instant=True)],
            unit="short",
            decimals=0,
            description="Devices enrolled, in any state.",
        ),
        stat(
            "Expected devices",
            [target(per_site(EXPECTED, SITE), instant=True)],
            unit="short",
            decimals=0,
            description="Devices expected from the imported inventory (no OS breakdown).",
        ),
        stat(
            "Coverage",
            [target(coverage(), instant=True)],
            unit="percentunit",
            thresholds=SLA_COLOURS,
            description="Enrolled / expected, for the selected sites (all OS).",
        ),
        stat(
            "Silent devices",
            [target(silent(SITE, OS), instant=True)],
            unit="short",
            decimals=0,
            thresholds=ATTENTION,
            description="Enrolled devices with no report for 24 hours.",
        ),
        stat(
            "Enrolled, unused 14 days",
            [target(per_site(UNUSED, SITE), instant=True)],
            unit="short",
            decimals=0,
            thresholds=ATTENTION,
            description="Enrolled devices nobody signed in to for 14 days.",
        ),
        stat(
            "Agent versions",
            [target(f"count({devices(SITE, OS, by='agent_version')} > 0)", instant=True)],
            unit="short",
            decimals=0,
            thresholds=steps(("green", None), ("orange", 2)),
            description="Distinct agent versions on enrolled devices. More than one for "
            "7 days raises an alert.",
        ),
        table(
            "Sites",
            [
                target(devices(SITE, by="site")),
                target(per_site(EXPECTED, SITE, by="site")),
                target(coverage(by="site")),
                target(devices(SITE, 'state="reporting"', by="site")),
                target(silent(SITE, by="site")),
                target(per_site(UNUSED, SITE, by="site")),
            ],
            unit="short",
            labels=["site"],
            values=["Enrolled", "Expected", "Coverage", "Reporting", "Silent", "Unused 14 days"],
            overrides=[column_unit("Coverage", "percentunit")],
            sort_by="Expected",
            description="Per site: enrolled (any state), expected from the inventory, "
            "coverage, reporting within the hour, silent for 24 hours, and "
            "enrolled but unused for 14 days.",
        ),
        timeseries(
            "Enrolled vs expected",
            [
                target(devices(SITE, OS), "enrolled"),
                target(per_site(EXPECTED, SITE), "expected"),
            ],
            unit="short",
            description="Enrolment progress over time.",
        ),
        timeseries(
            "Devices by state",
            [target(devices(SITE, OS, by="state"), "{{state}}")],
            unit="short",
            stack=True,
            description="reporting: a report within the hour; stale: none for an hour; "
            "silent: none for 24 hours.",
        ),
        row("Agent versions"),
        timeseries(
            "Devices by agent version",
            [target(devices(SITE, OS, by="agent_version"), "{{agent_version}}")],
            unit="short",
            stack=True,
            w=16,
            description="Enrolled devices per agent version: an upgrade shows as one band "
            "replacing another.",
        ),
        piechart(
            "Agent versions now",
            [target(devices(SITE, OS, by="agent_version"), "{{agent_version}}", instant=True)],
            unit="short",
            w=8,
            description="Enrolled devices per agent version.",
        ),
        row("Ingest health (all collectors)"),
        stat(
            "Collectors up",
            [target('sum(up{job="fleetpulse-collector"})', instant=True)],
            unit="short",
            decimals=0,
            w=6,
            description="Collector instances Prometheus scrapes successfully (scrape job "
            "fleetpulse-collector).",
        ),
        stat(
            "Rejected records, 1 hour",
            [target(f'round(sum(increase({RECORDS}{{result="rejected"}}[1h])))', instant=True)],
            unit="short",
            decimals=0,
            thresholds=ATTENTION,
            w=6,
            description="Records refused as malformed, out of range or unauthenticated.",
        ),
        stat(
            "Ingest lag p95",
            [target(quantile(0.95, LAG, window="1h"), instant=True)],
            unit="s",
            thresholds=steps(("green", None), ("orange", 3600), ("red", 86400)),
            w=6,
            description="Receive time minus measurement time over the last hour: agents "
            "that were offline send late.",
        ),
        stat(
            "Records dropped by agents, 1 day",
            [
                target(
                    "round(sum(increase(fleetpulse_agent_dropped_records_total[1d])))", instant=True
                )
            ],
            unit="short",
            decimals=0,
            thresholds=ATTENTION,
            w=6,
            description="Records agents dropped from a full spool, as they reported.",
        ),
        timeseries(
            "Ingested records by result",
            [target(rate(RECORDS, by="result"), "{{result}}")],
            unit="cps",
            stack=True,
            description="Records per second: accepted, duplicate (re-sent after a lost ack; "
            "dropped, harmless) and rejected.",
        ),
        timeseries(
            "Rejected records by kind",
            [target(rate(RECORDS, 'result="rejected"', by="kind"), "{{kind}}")],
            unit="cps",
            thresholds=steps(("green", None), ("red", 0)),
            description="Alerted on when above 0 for 10 minutes.",
        ),
        timeseries(
            "Ingest lag",
            [target(quantile(q, LAG), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
            unit="s",
            description="Receive time minus measurement time, all record kinds.",
        ),
        timeseries(
            "Ingest lag p95 by kind",
            [target(quantile(0.95, LAG, by="kind"), "{{kind}}")],
            unit="s",
            description="Receive time minus measurement time per record kind.",
        ),
    ]
    return dashboard(
        uid="fleetpulse-rollout",
        title="fleetpulse / Rollout",
        description="Enrolled vs expected devices per site, coverage, agent versions, silent "
        "and unused devices, and collector ingest health.",
        panels=panels,
        variables=[site_variable(), os_variable()],
        time_from="now-7d",
    )
