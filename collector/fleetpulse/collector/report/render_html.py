"""The SLA report as one self-contained HTML file: inline CSS and SVG, no script, no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import pairwise

from fleetpulse.collector.report import compare_text as ct
from fleetpulse.collector.report import contributors_text as cx
from fleetpulse.collector.report import models, svg
from fleetpulse.collector.report import sessions_text as st
from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.compare import Comparison
from fleetpulse.collector.report.figures import (
    LONG_SECONDS,
    PERCENTILE_METHOD,
    PERCENTILES,
    SlaReport,
)

CSS = """
body { font-family: system-ui, sans-serif; color: #263238; margin: 0; background: #eceff1; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin: 28px 0 8px; font-size: 19px; }
.muted { color: #607d8b; } .verdict { font-size: 19px; margin: 16px 0 6px; }
.badge { display: inline-block; padding: 4px 12px; border-radius: 4px; color: #fff;
         font-weight: bold; } .pass { background: #2e7d32; } .fail { background: #c62828; }
.none { background: #78909c; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid #cfd8dc; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.card b { display: block; font-size: 22px; } .card span { color: #607d8b; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0; }
th, td { border-bottom: 1px solid #cfd8dc; padding: 5px 8px; text-align: left; }
th { background: #f5f7f8; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; align-items: start; }
.charts figure { margin: 0; border: 1px solid #eceff1; padding: 6px; }
.verdicts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin: 12px 0; }
.verdicts section { border: 1px solid #cfd8dc; border-radius: 6px; padding: 10px 14px; }
.verdicts h3 { margin: 0 0 8px; font-size: 15px; color: #607d8b; }
.verdicts p { margin: 8px 0 0; }
.warning { background: #fff8e1; border-left: 4px solid #f9a825; padding: 6px 10px; }
td.better { color: #2e7d32; font-weight: bold; } td.worse { color: #c62828; font-weight: bold; }
@media print { body { background: #fff; } }
"""


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int], table_id: str = ""
) -> str:
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _span(a: float, b: float) -> str:
    return f"{a:g}–{b:g} s" if b < 120 else f"{a / 60:g}–{b / 60:g} min"


def _distribution(report: SlaReport) -> str:
    edges = sorted({e for e in (30.0, 60.0, report.slo_seconds, 300.0, 600.0) if e < 1800})
    edges.append(LONG_SECONDS)
    labels = [f"≤ {edges[0]:g} s", *(_span(a, b) for a, b in pairwise(edges)), "≥ 30 min"]
    counts = [0.0] * len(labels)
    for s in report.signins:
        if not s.in_sla or s.total_seconds is None:
            continue
        v = s.total_seconds
        index = len(edges) if v >= LONG_SECONDS else next(i for i, e in enumerate(edges) if v <= e)
        counts[index] += 1
    uppers = [*edges, float("inf")]
    return svg.columns(
        "Sign-ins by duration",
        labels,
        [("sign-ins", svg.GOOD, counts)],
        lambda v: f"{v:.0f}",
        colour_of=lambda i, _v: svg.bucket_colour(uppers[i], report.slo_seconds, LONG_SECONDS),
    )


def _charts(report: SlaReport) -> list[str]:
    weeks = [w.week.split("-")[1] + ("*" if w.partial else "") for w in report.weeks]
    partial = " (* partial week)" if any(w.partial for w in report.weeks) else ""
    return [
        _distribution(report),
        svg.columns(
            "p95 sign-in duration per ISO week" + partial,
            weeks,
            [("p95", svg.SIGNIN, [w.durations.percentiles[95] for w in report.weeks])],
            lambda v: f"{v:.0f} s",
            line=(report.slo_seconds, f"SLO {t.slo(report)}"),
        ),
        svg.shares(
            "Within the SLO per site",
            [s.site for s in report.sites],
            [s.durations.share_within_slo for s in report.sites],
            report.target,
        ),
        svg.columns(
            "Staff-hours lost waiting per ISO week" + partial,
            weeks,
            [
                ("sign-in", svg.SIGNIN, [w.signin_wait_seconds / 3600 for w in report.weeks]),
                ("boot", svg.BOOT, [w.boot_wait_seconds / 3600 for w in report.weeks]),
            ],
            lambda v: f"{v:.1f} h",
        ),
    ]


def _verdicts(report: SlaReport) -> str:
    met = report.meets_target
    badge = "none" if met is None else ("pass" if met else "fail")
    f = report.fleet
    long_badge = "none" if not f.known else ("fail" if f.long else "pass")
    return (
        '<div class="verdicts">'
        '<section id="slo-verdict"><h3>1. Within the SLO</h3>'
        f'<span class="badge {badge}">{escape(t.outcome(report))}</span>'
        f"<p>{escape(t.verdict(report))}</p></section>"
        '<section id="long-verdict"><h3>2. Sign-ins of 30 minutes or more</h3>'
        f'<span class="badge {long_badge}">{escape(t.long_outcome(report))}</span>'
        f"<p>{escape(t.long_verdict(report))}</p></section>"
        "</div>"
    )


def _verdict_class(changed: str) -> str:
    return next((w for w in ("better", "worse") if changed.endswith(w)), "")


def _comparison(c: Comparison) -> list[str]:
    header, rows = ct.comparison_table(c)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(v)}</td>" if i < 2 else f'<td class="n">{escape(v)}</td>'
            for i, v in enumerate(row[:-1])
        )
        + f'<td class="{_verdict_class(row[-1])}">{escape(row[-1])}</td>'
        + "</tr>"
        for row in rows
    )
    return [
        "<h2>Before and after</h2>",
        "<p>" + "<br>".join(escape(line) + "." for line in ct.periods(c)) + "</p>",
        *(f'<p class="warning">{escape(w)}</p>' for w in c.warnings),
        f'<table id="comparison"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        f'<p class="muted">{escape(ct.methods(c))}</p>',
    ]


def _sessions(report: SlaReport) -> list[str]:
    s = report.sessions
    if s is None:
        return []
    parts = [
        f"<h3>{escape(st.TITLE)}</h3>",
        f'<p class="muted">{escape(st.rule(s))}</p>',
        f"<p>{escape(st.summary(s))}</p>",
    ]
    if s.barely_used:
        parts.append(_table(*st.barely_used_table(s), {2, 3, 4}, "barely-used"))
    else:
        parts.append('<p id="barely-used">None.</p>')
    return parts


def _contributors(report: SlaReport) -> list[str]:
    top = cx.contributor_table(report)
    return [
        "<h2>What slowed sign-ins: named contributors</h2>",
        f'<p class="muted">{escape(cx.contributors_summary(report))}</p>',
        _table(*top, {3, 4, 5, 6}, "contributors")
        if top[1]
        else '<p id="contributors">None named in the period.</p>',
    ]


def _boots(report: SlaReport) -> list[str]:
    parts = [
        "<h2>Boots</h2>",
        f"<p>{escape(t.boots_summary(report))}</p>",
        "<h3>Slowest boots</h3>",
    ]
    slowest = t.slowest_boot_table(report)
    parts.append(
        _table(*slowest, {3}, "slowest-boots")
        if slowest[1]
        else '<p id="slowest-boots">None in the period.</p>'
    )
    parts.append("<h3>Top boot culprits (what Windows says slowed the boots)</h3>")
    culprits = t.culprit_table(report)
    parts.append(
        _table(*culprits, {2, 3, 4, 5}, "boot-culprits")
        if culprits[1]
        else '<p id="boot-culprits">None named in the period.</p>'
    )
    return parts


def _models(report: SlaReport) -> list[str]:
    section = report.models
    if section is None:
        return []
    header, rows = models.model_table(section)
    return [
        "<h2>By model</h2>",
        *(f'<p class="muted">{escape(note)}</p>' for note in models.model_notes(section)),
        _table(header, rows, set(range(2, len(header))), "models")
        if rows
        else '<p id="models">No sign-in or boot in the period.</p>',
    ]


def render_html(report: SlaReport) -> str:
    f, c = report.fleet, report.coverage
    cards = [
        (t.count(f.signins), "sign-ins (SLA)"),
        (t.share_against(f.share_within_slo, report.target), f"within {t.slo(report)}"),
        (t.count(f.long), "took ≥ 30 min"),
        *((t.seconds(f.percentiles[p]), f"p{p}") for p in PERCENTILES),
        (
            f"{c.reporting_expected:,} / {c.expected:,}"
            if c.expected is not None
            else t.count(c.reporting),
            "devices reporting / expected"
            if c.expected is not None
            else "devices reporting (expected: unknown)",
        ),
        (t.count(f.unknown), "unknown duration"),
        (
            t.count(report.flagged.either),
            "flagged " + ("(included)" if report.flagged.included else "(excluded)"),
        ),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Sign-in SLA report</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>Sign-in SLA report</h1>",
        *(f'<p class="warning">{escape(w)}</p>' for w in report.warnings),
        f'<p class="muted">{escape(t.period(report))}. SLO {escape(t.slo(report))}, target'
        f" {100 * report.target:g}% of sign-ins within it.</p>",
        _verdicts(report),
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in cards
        )
        + "</div>",
        f"<p>{escape(t.coverage(report))}<br>{escape(t.exclusions(report))}</p>",
        *([] if report.comparison is None else _comparison(report.comparison)),
        '<div class="charts">'
        + "".join(f"<figure>{chart}</figure>" for chart in _charts(report))
        + "</div>",
        "<h2>Sign-ins that took 30 minutes or more</h2>",
        '<p class="muted">Phases: the longest measured part of the sign-in, in plain words'
        " with the agent's name for it; the top contributor is its largest named part.</p>",
    ]
    if report.long_signins:
        parts.append(
            _table(
                *cx.long_signin_table(report),
                {3},
                "long-signins",
            )
        )
    else:
        parts.append('<p id="long-signins">None in the period.</p>')
    parts += _contributors(report)
    parts += [
        "<h2>Per site</h2>",
        _table(
            *t.site_table(report),
            {1, 2, 3, 4, 5, 6, 7, 8},
            "sites",
        ),
    ]
    parts += [
        "<h2>Weekly trend and staff-hours lost waiting (ISO weeks, UTC)</h2>",
        '<p class="muted">A week marked partial has only some of its days inside the'
        " period: its counts cover those days only.</p>",
        _table(
            [
                "week",
                "from",
                "sign-ins",
                "p95",
                "within SLO",
                "≥ 30 min",
                "sign-in h",
                "boot h",
                "total h",
                "unknown sign-ins / boots",
            ],
            [
                [
                    t.week_label(w),
                    t.day(w.start),
                    t.count(w.durations.signins),
                    t.seconds(w.durations.percentiles[95]),
                    t.share(w.durations.share_within_slo),
                    t.count(w.durations.long),
                    t.hours(w.signin_wait_seconds / 3600),
                    t.hours(w.boot_wait_seconds / 3600),
                    t.hours(w.wait_hours),
                    f"{w.signins_unknown} / {w.boots_unknown}",
                ]
                for w in report.weeks
            ],
            {2, 3, 4, 5, 6, 7, 8, 9},
            "weeks",
        ),
    ]
    parts += _boots(report)
    parts += _models(report)
    parts.append(
        "<h2>Devices enrolled but unused</h2>"
        '<p class="muted">Enrolled 14 days or more ago, no sign-in in the last'
        " 14 days.</p>"
    )
    if report.unused:
        parts.append(
            _table(
                *t.unused_table(report),
                set(),
                "unused",
            )
        )
    else:
        parts.append('<p id="unused">None.</p>')
    parts += _sessions(report)
    parts += [
        "<h2>How these figures are made</h2>",
        "<p>From the stored sign-ins by <b>event time</b> (when each sign-in started), not"
        " by arrival time as the Prometheus histograms count. Percentiles are exact over"
        f" the stored durations — {escape(PERCENTILE_METHOD)}. A sign-in whose duration is"
        " unknown is counted and stated, never taken as 0. Staff-hours add every sign-in"
        " (flagged ones too) and every boot with a known duration.</p>",
        "<p>The 30-minute verdict gives the exact binomial interval of Clopper &amp; Pearson"
        " (1934) — one-sided upper bound when no sign-in took 30 minutes — computed with"
        " scipy.stats.binomtest. It speaks for the devices that reported: with low coverage"
        " the silent devices could hold the slow sign-ins. A comparison gives percentile"
        " bootstrap intervals (Efron) for percentiles and staff-hours, seeded so the same"
        " store gives the same report, and Newcombe's (1998) hybrid score interval, built"
        " from Wilson (1927) intervals, for the difference of two rates.</p>",
        f'<p class="muted">Generated {escape(t.when(report.generated_at))} UTC.</p>',
        "</main></body></html>",
        "",
    ]
    return "\n".join(parts)
