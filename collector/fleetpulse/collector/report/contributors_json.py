"""The report's named contributors as JSON values (numbers as numbers, unknowns as null),
for the JSON and CSV renderers."""

from __future__ import annotations

from typing import Any

from fleetpulse.collector.report.contributors import KIND_PHASES, KIND_WORDS, top_of
from fleetpulse.collector.report.figures import SigninEntry, SlaReport
from fleetpulse.contract.records import Contributor

BASIS = (
    "the period's SLA sign-ins by event time (first-login and after-update ones out unless"
    " --include-flagged); share: seconds in the sign-ins with a known duration over those"
    " durations summed; contributors overlap, so shares do not add up to 1"
)


def named_dict(n: Contributor | None) -> dict[str, Any] | None:
    if n is None:
        return None
    return {"kind": n.kind, "phase": KIND_PHASES.get(n.kind), "name": n.name, "seconds": n.seconds}


def long_signin_dict(report: SlaReport, d: dict[str, Any], s: SigninEntry) -> dict[str, Any]:
    """A 30-minute sign-in's dict with its largest named contributor (null: none named)."""
    return {**d, "top_contributor": named_dict(top_of(report, s))}


def contributors_dict(report: SlaReport) -> dict[str, Any] | None:
    c = report.contributors
    if c is None:
        return None
    return {
        "basis": BASIS,
        "signins": c.signins,
        "signins_naming_any": c.named,
        "signin_seconds": c.signin_seconds,
        "top": [
            {
                "kind": f.kind,
                "phase": KIND_PHASES.get(f.kind),
                "meaning": KIND_WORDS.get(f.kind),
                "name": f.name,
                "signins": f.signins,
                "total_seconds": f.total_seconds,
                "median_seconds": f.median_seconds,
                "share": f.share,
            }
            for f in c.top
        ],
    }
