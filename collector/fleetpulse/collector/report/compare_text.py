"""Words and tables of the before/after comparison, shared by Markdown and HTML."""

from __future__ import annotations

from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.compare import (
    FLEET,
    METHOD_BOOTSTRAP,
    METHOD_NEWCOMBE,
    Comparison,
    Estimate,
    PeriodSummary,
)

HEADER = [
    "scope",
    "figure",
    "before",
    "after",
    "difference (after − before)",
    "95% interval of the difference",
    "changed?",
]


def _value(e: Estimate, v: float | None) -> str:
    if v is None:
        return t.UNKNOWN
    if e.metric.endswith("_seconds"):
        return t.seconds(v)
    if e.metric == "hours_per_device_week":
        return f"{v:.2f} h"
    return t.rate(v)


def _signed(e: Estimate, v: float | None) -> str:
    if v is None:
        return t.UNKNOWN
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    if e.metric.endswith("_seconds"):
        return f"{sign}{t.seconds(abs(v))}"
    if e.metric == "hours_per_device_week":
        return f"{sign}{abs(v):.2f} h"
    return f"{sign}{100 * abs(v):.2f} pp"


HIGHER_IS_BETTER = {"share_within_slo"}


def changed(e: Estimate) -> str:
    """Whether the interval excludes no change, and which way is better."""
    ex = e.excludes_zero
    if ex is None:
        return t.UNKNOWN
    if not ex:
        return "no clear change (interval includes 0)"
    lower = (e.high or 0.0) < 0
    better = lower != (e.metric in HIGHER_IS_BETTER)
    return f"{'lower' if lower else 'higher'}: {'better' if better else 'worse'}"


def comparison_table(c: Comparison) -> t.Table:
    rows = []
    for scope in c.scopes:
        name = "fleet" if scope.scope == FLEET else scope.scope
        for e in scope.estimates:
            interval = (
                t.UNKNOWN
                if e.low is None or e.high is None
                else f"{_signed(e, e.low)} to {_signed(e, e.high)}"
            )
            rows.append(
                [
                    name,
                    e.label,
                    _value(e, e.before),
                    _value(e, e.after),
                    _signed(e, e.difference),
                    interval,
                    changed(e),
                ]
            )
    return HEADER, rows


def _period(name: str, p: PeriodSummary) -> str:
    coverage = (
        "coverage unknown"
        if p.coverage is None
        else f"{p.reporting_expected} of {p.expected} expected devices ({t.share(p.coverage)})"
    )
    return (
        f"{name}: {t.when(p.since)} to {t.when(p.until)} UTC — {p.signins:,} SLA sign-ins with"
        f" a known duration on {p.devices} device(s), {coverage}; {p.long} took ≥ 30 min"
    )


def periods(c: Comparison) -> list[str]:
    return [_period("Before", c.before), _period("After", c.after)]


def methods(c: Comparison) -> str:
    return (
        f"Differences are after minus before, with {100 * c.confidence:g}% intervals:"
        f" percentiles and staff-hours by {METHOD_BOOTSTRAP} (scipy.stats.bootstrap; the"
        " same store always gives the same interval); shares and rates by"
        f" {METHOD_NEWCOMBE}. Staff-hours per device-week are the hours waited in sign-ins"
        " (flagged ones too) and boots, per device that reported, divided by the period's"
        " weeks. A figure is called changed only when its interval excludes 0."
    )
