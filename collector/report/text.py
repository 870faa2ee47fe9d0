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
