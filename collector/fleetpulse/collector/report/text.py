"""Words and numbers shared by the human-readable renderers (Markdown and HTML)."""

from __future__ import annotations

import time

from fleetpulse.collector.report import stats
from fleetpulse.collector.report.boots import CULPRIT_KIND_WORDS
from fleetpulse.collector.report.figures import LOW_COVERAGE, SlaReport, WeekFigures

UNKNOWN = "unknown"

PHASE_WORDS = {  # fleetpulse.contract.phases names -> what the person was waiting for
    "core": "signing in, up to the desktop (no finer phase measured)",
    "responsive": "the desktop shown but not yet responding",
    "network_providers": "network providers (drive mappings, credential providers)",
    "profile": "loading the user profile",
    "group_policy": "applying group policy",
    "gp_scripts": "group policy logon scripts",
    "userinit_explorer": "starting the shell (userinit to Explorer)",
    "active_setup": "Active Setup (per-user first-run set-up)",
}
CP_METHOD = "exact Clopper-Pearson (1934) binomial interval"


def printable(value: str) -> str:
    """``value`` on one line, safe to print to a terminal: whitespace runs become one space,
    every other character ``str.isprintable`` refuses (escape sequences, NUL,
    bidirectional overrides) becomes U+FFFD."""
    value = "".join(c if c.isprintable() or c.isspace() else "\ufffd" for c in value)
    return " ".join(value.split())


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
    """A count as people read it: thousands separated ("3,978"), unknown as such."""
    return UNKNOWN if v is None else f"{v:,}"


def hours(v: float) -> str:
    return f"{v:.1f}"


def slo(report: SlaReport) -> str:
    return f"{report.slo_seconds:g} s"


def devices_phrase(report: SlaReport) -> str:
    c = report.coverage
    if c.expected is None:
        return f"{c.reporting:,} reporting devices (expected: unknown, no inventory imported)"
    return f"{c.reporting_expected:,} of {c.expected:,} expected devices"


def verdict(report: SlaReport) -> str:
    """The one sentence a manager reads: share, count, devices, target, the long ones."""
    f = report.fleet
    if f.known == 0:
        sentence = f"No sign-in with a known duration on {devices_phrase(report)} in the period."
        if f.unknown:
            sentence += f" {f.unknown:,} sign-in(s) have an unknown duration."
        return sentence
    got = share_against(f.share_within_slo, report.target)
    sentence = (
        f"{got} of {f.known:,} sign-ins on {devices_phrase(report)}"
        f" met the {slo(report)} target; {f.long:,} took ≥ 30 min."
    )
    if f.unknown:
        sentence += f" {f.unknown:,} more sign-in(s) have an unknown duration and are not counted."
    return sentence


def outcome(report: SlaReport) -> str:
    """Verdict 1, the SLO share: PASS / FAIL against the target with the counts, or why
    there is no verdict."""
    met = report.meets_target
    target = f"{100 * report.target:g}%"
    if met is None:
        return f"NO VERDICT: no sign-in with a known duration in the period (target {target})."
    word = "PASS" if met else "FAIL"
    relation = "≥" if met else "<"
    f = report.fleet
    got = share_against(f.share_within_slo, report.target)
    return (
        f"{word}: {got} {relation} the {target} target"
        f" ({f.within_slo:,} of {f.known:,} sign-ins within {slo(report)})."
    )


def rate(v: float) -> str:
    """A rate as a percentage with the digits a small rate needs: 64.3%, 0.64%, 0.0081%."""
    pct = 100 * v
    if pct == 0 or pct >= 10:
        return f"{pct:.1f}%"
    if pct >= 1:
        return f"{pct:.2f}%"
    return f"{pct:.2g}%" if pct >= 0.001 else f"{pct:.1e}%"


def long_outcome(report: SlaReport) -> str:
    """Verdict 2, the 30-minute question, as a badge: how many of how many."""
    f = report.fleet
    if not f.known:
        return "≥ 30 MIN: NO VERDICT (no sign-in with a known duration)"
    if not f.long:
        return f"≥ 30 MIN: NONE of {f.known:,} sign-ins"
    return f"≥ 30 MIN: {f.long:,} of {f.known:,} sign-ins ({rate(f.long / f.known)})"


def long_verdict(report: SlaReport) -> str:
    """Verdict 2 in full: the count, out of how many, on how many devices, with an exact
    interval (one-sided upper bound when none did) and what coverage means for it."""
    f = report.fleet
    if not f.known:
        return (
            "No sign-in with a known duration in the period: nothing can be said about"
            " 30-minute sign-ins."
        )
    est = stats.rate_estimate(f.long, f.known)
    conf = f"{100 * est.confidence:g}%"
    if est.one_sided:
        sentence = (
            f"0 of {f.known:,} sign-ins took 30 min or more: with {conf} confidence fewer than"
            f" {stats.in_words(est.high)} do ({CP_METHOD}, one-sided upper bound)."
        )
    else:
        sentence = (
            f"{f.long:,} of {f.known:,} sign-ins ({rate(est.rate)}) took 30 min or more, on"
            f" {report.long_devices} device(s): with {conf} confidence between"
            f" {rate(est.low)} and {rate(est.high)} of sign-ins do ({CP_METHOD})."
        )
    return f"{sentence} {coverage_meaning(report)}"


def coverage_meaning(report: SlaReport) -> str:
    """Coverage, and what it means for how far the figures speak for the fleet."""
    c = report.coverage
    if c.expected is None or c.reporting_expected is None:
        return (
            f"Coverage unknown (no inventory imported): this speaks for the {c.reporting:,}"
            " device(s) that reported, not for devices that never did."
        )
    missing = c.expected - c.reporting_expected
    head = (
        f"{c.reporting_expected:,} of {c.expected:,} expected devices reported ({share(c.share)})"
    )
    if c.share is not None and c.share < LOW_COVERAGE:
        return (
            f"{head}: coverage is low. The {missing} silent device(s) are not measured and"
            " could be the slow ones, so this is weaker evidence for the whole fleet than"
            " the count alone suggests."
        )
    if missing:
        return f"{head}; the {missing} silent device(s) are not in these figures."
    return f"{head}: every expected device is in these figures."


def week_label(w: WeekFigures) -> str:
    """``2026-W47``, marked when only part of the week is inside the period."""
    return f"{w.week} (partial: {w.days:.1f} of 7 days)" if w.partial else w.week


def phase_words(name: str | None, secs: float | None) -> str:
    """The dominant phase in plain words with its name and time."""
    if name is None:
        return UNKNOWN
    return f"{PHASE_WORDS.get(name, name)} [{name}, {seconds(secs)}]"


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
        return f"{c.reporting:,} devices reporting; expected: unknown (no inventory imported)."
    return (
        f"{c.reporting:,} devices reporting; {c.reporting_expected:,} of {c.expected:,} expected"
        f" devices ({share(c.share)}); {c.reporting_not_in_inventory:,} reporting device(s)"
        " not in the inventory."
    )


Table = tuple[list[str], list[list[str]]]


def long_signin_table(report: SlaReport) -> Table:
    """The sign-ins of 30 minutes or more, as every format shows them."""
    return (
        [
            "hostname",
            "site",
            "when (UTC)",
            "total",
            "longest phase: what they waited for",
            "device",
        ],
        [
            [
                s.hostname,
                s.site,
                when(s.started_at),
                seconds(s.total_seconds),
                phase_words(s.dominant_phase, s.dominant_phase_seconds),
                s.device_id,
            ]
            for s in report.long_signins
        ],
    )


def slowest_boot_table(report: SlaReport) -> Table:
    b = report.boots
    rows = [] if b is None else b.slowest
    return (
        ["hostname", "site", "when (UTC)", "total", "boot type", "top culprit", "device"],
        [
            [
                r.hostname,
                r.site,
                when(r.boot_time),
                seconds(r.total_seconds),
                r.boot_type,
                f"{r.culprits[0][0]} (+{seconds(r.culprits[0][2])})"
                if r.culprits
                else "none named",
                r.device_id,
            ]
            for r in rows
        ],
    )


def culprit_table(report: SlaReport) -> Table:
    b = report.boots
    rows = [] if b is None else b.culprits
    return (
        ["culprit", "what it is", "boots slowed", "devices", "time added", "median per boot"],
        [
            [
                c.name,
                CULPRIT_KIND_WORDS.get(c.kind, c.kind),
                count(c.boots),
                count(c.devices),
                seconds(c.total_seconds),
                seconds(c.median_seconds),
            ]
            for c in rows
        ],
    )


def boots_summary(report: SlaReport) -> str:
    b = report.boots
    if b is None:
        return "Boots were not read."
    return (
        f"{b.boots:,} boot(s) in the period, {b.unknown:,} of unknown duration (not counted);"
        f" p50 {seconds(b.p50)}, p95 {seconds(b.p95)}. The OS named a culprit for"
        f" {b.with_culprits:,} of them (Windows Diagnostics-Performance events 101-110;"
        " Linux boots name none)."
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
                count(s.devices_reporting),
                count(s.devices_expected),
                count(s.durations.signins),
                count(s.durations.unknown),
                seconds(s.durations.percentiles[50]),
                seconds(s.durations.percentiles[95]),
                share(s.durations.share_within_slo),
                count(s.durations.long),
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
