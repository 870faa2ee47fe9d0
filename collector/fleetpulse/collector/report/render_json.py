"""The SLA report as JSON: every figure, machine-readable, unknowns as null."""

from __future__ import annotations

import json
import time
from typing import Any

from fleetpulse.collector.report import models, stats, text
from fleetpulse.collector.report.compare import FLEET, Comparison, PeriodSummary
from fleetpulse.collector.report.contributors_json import contributors_dict, long_signin_dict
from fleetpulse.collector.report.figures import (
    LONG_SECONDS,
    LOW_COVERAGE,
    PERCENTILE_METHOD,
    Durations,
    SigninEntry,
    SlaReport,
)
from fleetpulse.collector.report.sessions_text import session_dict


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
        "dominant_phase_meaning": text.PHASE_WORDS.get(s.dominant_phase or ""),
        "dominant_phase_seconds": s.dominant_phase_seconds,
    }


def report_dict(report: SlaReport) -> dict[str, Any]:
    c, fl = report.coverage, report.flagged
    return {
        "generated_at": iso(report.generated_at),
        "warnings": report.warnings,
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
        "slo_verdict": text.outcome(report),
        "long_verdict": _long_verdict(report),
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
        "long_signins": [long_signin_dict(report, signin_dict(s), s) for s in report.long_signins],
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
                "partial": w.partial,
                "days": w.days,
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


def _long_verdict(report: SlaReport) -> dict[str, Any]:
    """Verdict 2: sign-ins of 30 minutes or more, with the exact interval of their rate."""
    f = report.fleet
    out: dict[str, Any] = {
        "text": text.long_verdict(report),
        "long": f.long,
        "known_duration": f.known,
        "devices_with_long": report.long_devices,
        "rate": None,
        "confidence": stats.CONFIDENCE,
        "interval": None,
        "one_sided": None,
        "method": "Clopper-Pearson (1934) exact binomial",
        "coverage": report.coverage.share,
        "low_coverage": None
        if report.coverage.share is None
        else report.coverage.share < LOW_COVERAGE,
    }
    if f.known:
        est = stats.rate_estimate(f.long, f.known)
        out.update(rate=est.rate, interval=[est.low, est.high], one_sided=est.one_sided)
    return out


def _boots(report: SlaReport) -> dict[str, Any] | None:
    b = report.boots
    if b is None:
        return None
    return {
        "boots": b.boots,
        "unknown_duration": b.unknown,
        "percentiles_seconds": {"p50": b.p50, "p95": b.p95},
        "with_culprits": b.with_culprits,
        "slowest": [
            {
                "hostname": r.hostname,
                "site": r.site,
                "boot_time": iso(r.boot_time),
                "total_seconds": r.total_seconds,
                "boot_type": r.boot_type,
                "degraded": r.degraded,
                "culprits": [{"name": n, "kind": k, "seconds": s} for n, k, s in r.culprits],
                "device_id": r.device_id,
            }
            for r in b.slowest
        ],
        "top_culprits": [
            {
                "name": c.name,
                "kind": c.kind,
                "boots": c.boots,
                "devices": c.devices,
                "total_seconds": c.total_seconds,
                "median_seconds": c.median_seconds,
            }
            for c in b.culprits
        ],
    }


def _period(p: PeriodSummary) -> dict[str, Any]:
    return {
        "since": iso(p.since),
        "until": iso(p.until),
        "signins": p.signins,
        "devices": p.devices,
        "reporting_expected": p.reporting_expected,
        "expected": p.expected,
        "coverage": p.coverage,
        "meets_target": p.meets_target,
        "long": p.long,
    }


def comparison_dict(c: Comparison) -> dict[str, Any]:
    return {
        "difference": "after minus before",
        "confidence": c.confidence,
        "bootstrap": {"resamples": c.resamples, "seed": c.seed, "method": "percentile"},
        "before": _period(c.before),
        "after": _period(c.after),
        "warnings": c.warnings,
        "scopes": [
            {
                "scope": "fleet" if s.scope == FLEET else "site",
                "site": None if s.scope == FLEET else s.scope,
                "before_signins": s.before_signins,
                "after_signins": s.after_signins,
                "before_devices": s.before_devices,
                "after_devices": s.after_devices,
                "figures": {
                    e.metric: {
                        "before": e.before,
                        "after": e.after,
                        "difference": e.difference,
                        "interval": None if e.low is None else [e.low, e.high],
                        "excludes_zero": e.excludes_zero,
                        "method": e.method,
                    }
                    for e in s.estimates
                },
            }
            for s in c.scopes
        ],
    }


def render_json(report: SlaReport) -> str:
    data = report_dict(report)
    data["boots"] = _boots(report)
    data["sessions"] = session_dict(report)
    data["contributors"] = contributors_dict(report)
    data["models"] = (
        None
        if report.models is None
        else {
            "min_signins": report.models.min_signins,
            "ordering": models.ORDERING,
            "models": models.model_dicts(report.models),
        }
    )
    data["comparison"] = None if report.comparison is None else comparison_dict(report.comparison)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
