"""The SLA report as JSON: every figure, machine-readable, unknowns as null."""

from __future__ import annotations

import json
import time
from typing import Any

from collector.report import text
from collector.report.figures import (
    LONG_SECONDS,
    PERCENTILE_METHOD,
    Durations,
    SigninEntry,
    SlaReport,
)


def iso(t: float | None) -> str | None:
    """UTC ISO 8601 with the microseconds the store holds: 2026-11-20T08:03:12.345678Z."""
    if t is None:
        return None
    whole = int(t // 1)
    micros = round((t - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def _durations(d: Durations) -> dict[str, Any]:
    return {
        "signins": d.signins,
        "known_duration": d.known,
        "unknown_duration": d.unknown,
        "within_slo": d.within_slo,
        "share_within_slo": d.share_within_slo,
        "long": d.long,
        "percentiles_seconds": {f"p{p}": v for p, v in d.percentiles.items()},
    }


def signin_dict(s: SigninEntry) -> dict[str, Any]:
    return {
        "device_id": s.device_id,
        "hostname": s.hostname,
        "site": s.site,
        "os": s.os,
        "started_at": iso(s.started_at),
        "started_at_unix": s.started_at,
        "total_seconds": s.total_seconds,
        "first_login": s.first_login,
        "after_update": s.after_update,
        "in_sla": s.in_sla,
        "dominant_phase": s.dominant_phase,
        "dominant_phase_seconds": s.dominant_phase_seconds,
    }


def report_dict(report: SlaReport) -> dict[str, Any]:
    c, fl = report.coverage, report.flagged
    return {
        "generated_at": iso(report.generated_at),
        "period": {
            "since": iso(report.since),
            "until": iso(report.until),
            "by": "event time (sign-in started_at, boot boot_time)",
        },
        "slo_seconds": report.slo_seconds,
        "target": report.target,
        "long_seconds": LONG_SECONDS,
        "percentile_method": PERCENTILE_METHOD,
        "verdict": text.verdict(report),
        "meets_target": report.meets_target,
        "fleet": _durations(report.fleet),
        "flagged": {
            "first_login": fl.first_login,
            "after_update": fl.after_update,
            "either": fl.either,
            "long": fl.long,
            "included": fl.included,
        },
        "devices": {
            "reporting": c.reporting,
            "expected": c.expected,
            "reporting_expected": c.reporting_expected,
            "reporting_not_in_inventory": c.reporting_not_in_inventory,
            "coverage": c.share,
        },
        "long_signins": [signin_dict(s) for s in report.long_signins],
        "sites": [
            {
                "site": s.site,
                "devices_reporting": s.devices_reporting,
                "devices_expected": s.devices_expected,
                **_durations(s.durations),
            }
            for s in report.sites
        ],
        "weeks": [
            {
                "week": w.week,
                "start": iso(w.start),
                "end": iso(w.end),
                **_durations(w.durations),
                "wait_hours": {
                    "signin": w.signin_wait_seconds / 3600,
                    "boot": w.boot_wait_seconds / 3600,
                    "total": w.wait_hours,
                },
                "signins_unknown_duration": w.signins_unknown,
                "boots": w.boots,
                "boots_unknown_duration": w.boots_unknown,
            }
            for w in report.weeks
        ],
        "unused_devices": [
            {
                "device_id": u.device_id,
                "hostname": u.hostname,
                "site": u.site,
                "enrolled_at": iso(u.enrolled_at),
                "last_signin_at": iso(u.last_signin_at),
            }
            for u in report.unused
        ],
    }


def render_json(report: SlaReport) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
