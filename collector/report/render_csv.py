"""Every sign-in in the period as CSV, for spreadsheets; empty cell = unknown."""

from __future__ import annotations

import csv
import io

from collector.report.figures import SlaReport
from collector.report.render_json import iso

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


def render_csv(report: SlaReport) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    for s in report.signins:
        within = None if s.total_seconds is None else s.total_seconds <= report.slo_seconds
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
            ]
        )
    return buf.getvalue()
