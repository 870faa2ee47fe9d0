"""The SLA report as Markdown (the default: readable in a terminal, a wiki or a ticket)."""

from __future__ import annotations

from collections.abc import Sequence

from fleetpulse.collector.report import compare_text as ct
from fleetpulse.collector.report import contributors_text as cx
from fleetpulse.collector.report import models
from fleetpulse.collector.report import sessions_text as st
from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.figures import PERCENTILE_METHOD, PERCENTILES, SlaReport


def _cell(value: str) -> str:
    """Agent-supplied text stays text when the Markdown is rendered (no HTML, no columns)
    and when it is printed to a terminal: whitespace runs become one space, every other
    character ``str.isprintable`` refuses (escape sequences, NUL, bidirectional
    overrides) becomes U+FFFD."""
    for c in "\\|<>":
        value = value.replace(c, "\\" + c)
    return t.printable(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _sessions(report: SlaReport) -> list[str]:
    s = report.sessions
    if s is None:
        return []
    out = ["", f"### {st.TITLE}", "", st.rule(s), "", st.summary(s), ""]
    out += _table(*st.barely_used_table(s)) if s.barely_used else ["None."]
    return out


def _comparison(report: SlaReport) -> list[str]:
    c = report.comparison
    assert c is not None
    out = ["## Before and after", ""]
    out += [f"- {line}." for line in ct.periods(c)]
    out.append("")
    out += [f"> **Warning:** {w}" for w in c.warnings]
    if c.warnings:
        out.append("")
    out += _table(*ct.comparison_table(c))
    out += ["", ct.methods(c)]
    return out


def _boots(report: SlaReport) -> list[str]:
    out = ["## Boots", "", t.boots_summary(report), "", "### Slowest boots", ""]
    slowest = t.slowest_boot_table(report)
    out += _table(*slowest) if slowest[1] else ["None in the period."]
    out += ["", "### Top boot culprits (what Windows says slowed the boots)", ""]
    culprits = t.culprit_table(report)
    out += _table(*culprits) if culprits[1] else ["None named in the period."]
    return out


def _contributors(report: SlaReport) -> list[str]:
    out = ["## What slowed sign-ins: named contributors", "", cx.contributors_summary(report), ""]
    top = cx.contributor_table(report)
    return out + (_table(*top) if top[1] else ["None named in the period."])


def _models(report: SlaReport) -> list[str]:
    section = report.models
    if section is None:
        return []
    out = ["## By model", "", *models.model_notes(section), ""]
    header, rows = models.model_table(section)
    out += _table(header, rows) if rows else ["No sign-in or boot in the period."]
    return ["", *out]


def render_md(report: SlaReport) -> str:
    f = report.fleet
    out = [
        "# Sign-in SLA report",
        "",
        *(line for w in report.warnings for line in (f"> **Warning:** {w}", "")),
        f"Period: {t.period(report)}. SLO: {t.slo(report)}; target: "
        f"{100 * report.target:g}% of sign-ins within it.",
        "",
        f"**{t.verdict(report)}**",
        "",
        "## Verdicts",
        "",
        f"1. **Within the SLO — {t.outcome(report)}**",
        f"2. **Sign-ins of 30 minutes or more — {t.long_outcome(report)}.**"
        f" {t.long_verdict(report)}",
        "",
        "## Figures",
        "",
        f"- Sign-ins: {f.signins:,} ({f.known:,} with a known duration, {f.unknown:,} unknown)",
        f"- Within the SLO: {f.within_slo:,} ({t.share(f.share_within_slo)})",
        f"- Took ≥ 30 min: {f.long:,}",
        "- Percentiles of the sign-in duration (exact, from the stored events): "
        + ", ".join(f"p{p} {t.seconds(f.percentiles[p])}" for p in PERCENTILES),
        f"- Percentile method: {PERCENTILE_METHOD}.",
        f"- Devices: {t.coverage(report)}",
        f"- {t.exclusions(report)}",
        "",
        "## Sign-ins that took 30 minutes or more",
        "",
    ]
    long = report.long_signins
    if long:
        out += _table(*cx.long_signin_table(report))
    else:
        out.append("None in the period.")
    out += ["", *_contributors(report)]
    if report.comparison is not None:
        out += ["", *_comparison(report)]
    out += ["", "## Per site", ""]
    out += _table(*t.site_table(report))
    out += [
        "",
        "## Weekly trend (ISO weeks, UTC)",
        "",
        "A week marked partial has only some of its days inside the period: its counts cover"
        " those days only.",
        "",
    ]
    out += _table(
        ["week", "from", "sign-ins", "p95", "within SLO", "≥ 30 min"],
        [
            [
                t.week_label(w),
                t.day(w.start),
                t.count(w.durations.signins),
                t.seconds(w.durations.percentiles[95]),
                t.share(w.durations.share_within_slo),
                t.count(w.durations.long),
            ]
            for w in report.weeks
        ],
    )
    out += [
        "",
        "## Staff-hours lost waiting",
        "",
        "Sum of every sign-in (flagged ones too) and every boot with a known duration, per"
        " week; records with an unknown duration are counted, not guessed.",
        "",
    ]
    out += _table(
        ["week", "sign-in hours", "boot hours", "total hours", "unknown sign-ins", "unknown boots"],
        [
            [
                t.week_label(w),
                t.hours(w.signin_wait_seconds / 3600),
                t.hours(w.boot_wait_seconds / 3600),
                t.hours(w.wait_hours),
                t.count(w.signins_unknown),
                t.count(w.boots_unknown),
            ]
            for w in report.weeks
        ],
    )
    out += ["", *_boots(report)]
    out += _models(report)
    out += [
        "",
        "## Devices enrolled but unused",
        "",
        "Enrolled 14 days or more ago, no sign-in in the last 14 days.",
        "",
    ]
    if report.unused:
        out += _table(*t.unused_table(report))
    else:
        out.append("None.")
    out += _sessions(report)
    out += ["", f"Generated {t.when(report.generated_at)} UTC.", ""]
    return "\n".join(out)
