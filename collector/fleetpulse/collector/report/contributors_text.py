"""Words and tables of the report's named contributors, shared by Markdown and HTML."""

from __future__ import annotations

from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.contributors import KIND_PHASES, KIND_WORDS, top_of
from fleetpulse.collector.report.figures import SlaReport
from fleetpulse.contract.records import Contributor

NONE_NAMED = "none named"


def named_words(n: Contributor | None) -> str:
    """``group_policy — Drive Maps 27 min 28 s`` (the phase the contributor is part of, its
    name, its time); ``none named`` when the sign-in names none."""
    if n is None:
        return NONE_NAMED
    return f"{KIND_PHASES.get(n.kind, n.kind)} — {n.name} {t.seconds(n.seconds)}"


def long_signin_table(report: SlaReport) -> t.Table:
    """The 30-minute list (text.long_signin_table) with each sign-in's largest named
    contributor before the device column."""
    header, rows = t.long_signin_table(report)
    header.insert(-1, "top contributor")
    for row, s in zip(rows, report.long_signins, strict=True):
        row.insert(-1, named_words(top_of(report, s)))
    return header, rows


def contributors_summary(report: SlaReport) -> str:
    """The count basis and how the share is made."""
    c = report.contributors
    if c is None:
        return "Contributors were not read."
    flagged = "included" if report.flagged.included else "out"
    time = "unknown" if c.signin_seconds is None else t.seconds(c.signin_seconds)
    return (
        f"Count basis: the period's {c.signins:,} SLA sign-in(s) (first-login and after-update"
        f" ones {flagged}), {c.named:,} of which name a contributor (Windows logs them; Linux"
        f" and macOS sign-ins name none). Share: a contributor's seconds in the sign-ins with"
        f" a known duration over those durations summed ({time}); contributors overlap"
        " (extensions are parts of group_policy), so the shares do not add up to 100%."
    )


def contributor_table(report: SlaReport) -> t.Table:
    c = report.contributors
    rows = [] if c is None else c.top
    return (
        [
            "kind",
            "name",
            "what it is",
            "sign-ins",
            "total time",
            "median per sign-in",
            "share of sign-in time",
        ],
        [
            [
                f.kind,
                f.name,
                KIND_WORDS.get(f.kind, f.kind),
                f"{f.signins:,}",
                t.seconds(f.total_seconds),
                t.seconds(f.median_seconds),
                t.share(f.share),
            ]
            for f in rows
        ],
    )
