"""Words and numbers shared by the human-readable renderers (Markdown and HTML)."""

from __future__ import annotations

import time

from collector.report.figures import SlaReport

UNKNOWN = "unknown"


def when(t: float) -> str:
    """A UTC time to the second: 2026-11-20 08:03:12."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def seconds(v: float | None) -> str:
    """A duration for people: 42.1 s, 7 min 05 s, 1 h 02 min; unknown stays unknown."""
    if v is None:
        return UNKNOWN
    if v < 60:
        return f"{v:.1f} s"
    whole = round(v)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def share(v: float | None) -> str:
    return UNKNOWN if v is None else f"{100 * v:.1f}%"


def share_against(v: float | None, target: float) -> str:
    """A share with enough decimals that it never reads as the target when it is not."""
    if v is None:
        return UNKNOWN
    digits = 1
    while digits < 4 and v != target and round(100 * v, digits) == round(100 * target, digits):
        digits += 1
    return f"{100 * v:.{digits}f}%"


def count(v: int | None) -> str:
    return UNKNOWN if v is None else str(v)


def hours(v: float) -> str:
    return f"{v:.1f}"


def slo(report: SlaReport) -> str:
    return f"{report.slo_seconds:g} s"


def devices_phrase(report: SlaReport) -> str:
    c = report.coverage
    if c.expected is None:
        return f"{c.reporting} reporting devices (expected: unknown, no inventory imported)"
    return f"{c.reporting_expected} of {c.expected} expected devices"


def verdict(report: SlaReport) -> str:
    """The one sentence a manager reads: share, count, devices, target, the long ones."""
    f = report.fleet
    got = share_against(f.share_within_slo, report.target)
    sentence = (
        f"{got} of {f.known} sign-ins on {devices_phrase(report)}"
        f" met the {slo(report)} target; {f.long} took ≥ 30 min."
    )
    if f.unknown:
        sentence += f" {f.unknown} more sign-in(s) have an unknown duration and are not counted."
    return sentence


def outcome(report: SlaReport) -> str:
    """PASS / FAIL against the target share, or why there is no verdict."""
    met = report.meets_target
    target = f"{100 * report.target:g}%"
    if met is None:
        return f"NO VERDICT: no sign-in with a known duration in the period (target {target})."
    word = "PASS" if met else "FAIL"
    relation = "≥" if met else "<"
    got = share_against(report.fleet.share_within_slo, report.target)
    return f"{word}: {got} {relation} the {target} target."


def exclusions(report: SlaReport) -> str:
    fl = report.flagged
    counts = (
        f"{fl.either} flagged sign-in(s): {fl.first_login} first login(s),"
        f" {fl.after_update} after an update; {fl.long} of them took ≥ 30 min"
    )
    if fl.included:
        return f"{counts}. Included in the SLA figures (--include-flagged)."
    return f"{counts}. Excluded from the SLA figures, as Endpoint Analytics does."


def period(report: SlaReport) -> str:
    return f"{when(report.since)} to {when(report.until)} UTC (by sign-in start time)"


def coverage(report: SlaReport) -> str:
    c = report.coverage
    if c.expected is None:
        return f"{c.reporting} devices reporting; expected: unknown (no inventory imported)."
    return (
        f"{c.reporting} devices reporting; {c.reporting_expected} of {c.expected} expected"
        f" devices ({share(c.share)}); {c.reporting_not_in_inventory} reporting device(s)"
        " not in the inventory."
    )


Table = tuple[list[str], list[list[str]]]


def long_signin_table(report: SlaReport) -> Table:
    """The sign-ins of 30 minutes or more, as every format shows them."""
    return (
        ["when (UTC)", "hostname", "site", "device", "total", "dominant phase"],
        [
            [
                when(s.started_at),
                s.hostname,
                s.site,
                s.device_id,
                seconds(s.total_seconds),
                f"{s.dominant_phase} ({seconds(s.dominant_phase_seconds)})"
                if s.dominant_phase
                else UNKNOWN,
            ]
            for s in report.long_signins
        ],
    )


def site_table(report: SlaReport) -> Table:
    return (
        [
            "site",
            "devices",
            "expected",
            "sign-ins",
            "unknown",
            "p50",
            "p95",
            "within SLO",
            "≥ 30 min",
        ],
        [
            [
                s.site,
                str(s.devices_reporting),
                count(s.devices_expected),
                str(s.durations.signins),
                str(s.durations.unknown),
                seconds(s.durations.percentiles[50]),
                seconds(s.durations.percentiles[95]),
                share(s.durations.share_within_slo),
                str(s.durations.long),
            ]
            for s in report.sites
        ],
    )


def unused_table(report: SlaReport) -> Table:
    return (
        ["hostname", "site", "device", "enrolled", "last sign-in"],
        [
            [
                u.hostname,
                u.site,
                u.device_id,
                day(u.enrolled_at),
                when(u.last_signin_at) if u.last_signin_at is not None else "none stored",
            ]
            for u in report.unused
        ],
    )
