"""Every sign-in in the period as CSV, for spreadsheets; empty cell = unknown."""

from __future__ import annotations

import csv
import io

from fleetpulse.collector.report.compare import FLEET, Comparison
from fleetpulse.collector.report.contributors import top_of
from fleetpulse.collector.report.figures import SlaReport
from fleetpulse.collector.report.render_json import iso

COLUMNS = (
    "device_id",
    "hostname",
    "site",
    "os",
    "started_at",
    "total_seconds",
    "first_login",
    "after_update",
    "in_sla",
    "within_slo",
    "dominant_phase",
    "dominant_phase_seconds",
    # the sign-in's largest named contributor (report/contributors.py); empty: none named
    "top_contributor_kind",
    "top_contributor_name",
    "top_contributor_seconds",
)


def _text(value: str) -> str:
    """Agent-supplied text never starts a spreadsheet formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _opt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


COMPARISON_COLUMNS = (
    "scope",
    "site",
    "figure",
    "before",
    "after",
    "difference",
    "ci_low",
    "ci_high",
    "excludes_zero",
    "method",
    "before_since",
    "before_until",
    "after_since",
    "after_until",
    "before_signins",
    "after_signins",
    "warnings",
)


def render_comparison_csv(c: Comparison) -> str:
    """One row per scope and figure; differences are after minus before; the warnings
    (different devices, different coverage) are repeated on every row."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COMPARISON_COLUMNS)
    warnings = " | ".join(c.warnings)
    for scope in c.scopes:
        for e in scope.estimates:
            out.writerow(
                [
                    "fleet" if scope.scope == FLEET else "site",
                    "" if scope.scope == FLEET else _text(scope.scope),
                    e.metric,
                    _opt(e.before),
                    _opt(e.after),
                    _opt(e.difference),
                    _opt(e.low),
                    _opt(e.high),
                    _opt(e.excludes_zero),
                    e.method,
                    iso(c.before.since),
                    iso(c.before.until),
                    iso(c.after.since),
                    iso(c.after.until),
                    scope.before_signins,
                    scope.after_signins,
                    warnings,
                ]
            )
    return buf.getvalue()


def render_csv(report: SlaReport) -> str:
    """Every sign-in of the period; with ``--compare``, the comparison table instead."""
    if report.comparison is not None:
        return render_comparison_csv(report.comparison)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    for s in report.signins:
        within = None if s.total_seconds is None else s.total_seconds <= report.slo_seconds
        top = top_of(report, s)
        out.writerow(
            [
                _text(s.device_id),
                _text(s.hostname),
                _text(s.site),
                _text(s.os),
                iso(s.started_at),
                _opt(s.total_seconds),
                _opt(s.first_login),
                _opt(s.after_update),
                _opt(s.in_sla),
                _opt(within),
                _opt(s.dominant_phase),
                _opt(s.dominant_phase_seconds),
                "" if top is None else top.kind,
                "" if top is None else _text(top.name),
                "" if top is None else _opt(top.seconds),
            ]
        )
    return buf.getvalue()
