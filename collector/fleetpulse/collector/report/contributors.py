"""The report's "why": the named contributors of the period's sign-ins.

A contributor is a named part of a sign-in's time as the agent read it from the Windows
logs (fleetpulse.contract.phases.CONTRIBUTOR_KINDS): a group policy client-side extension
(GroupPolicy 5016, ``CSEElaspedTimeInMilliSeconds``), a logon script (GroupPolicy 4019 ->
5019, its file name only), a startup application Explorer ran from a Run key (Shell-Core
9707 -> 9708, its executable name), or the profile type (User Profile Service 67); the
agent's windows_contributors module says how each is read. Linux and macOS sign-ins name none.

Count basis: the period's SLA sign-ins, by event time (first-login and after-update ones out
unless ``--include-flagged``), like the SLA figures. A contributor's share is its seconds in
the sign-ins with a known duration over the sum of those durations; contributors overlap
(extensions are parts of group_policy), so shares do not add up to 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpulse.collector.report.data import percentile
from fleetpulse.collector.report.figures import SigninEntry, SlaReport
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import Contributor

TOP_CONTRIBUTORS = 10

#: The phase (fleetpulse.contract.phases) a contributor kind is a part of, as the
#: 30-minute list names it: "group_policy — Drive Maps 27 min 28 s".
KIND_PHASES = {
    "gp_extension": "group_policy",
    "gp_script": "gp_scripts",
    "profile": "profile",
    "startup_app": "startup_app",
}

KIND_WORDS = {  # contributor kind -> what it is, and where Windows logs it
    "gp_extension": "a group policy extension (GroupPolicy 4016 → 5016)",
    "gp_script": "a group policy logon script (GroupPolicy 4019 → 5019)",
    "startup_app": "a startup application Explorer ran from a Run key (Shell-Core 9707 → 9708)",
    "profile": "loading the user profile, by its type (User Profile Service 67)",
}


@dataclass(frozen=True, slots=True)
class ContributorFigures:
    """One ``(kind, name)`` over the period's SLA sign-ins."""

    kind: str
    name: str
    signins: int  # SLA sign-ins that named it
    total_seconds: float  # its seconds summed over them
    median_seconds: float  # per sign-in that named it
    share: float | None  # of all SLA sign-in time (known durations); None: none known


@dataclass(frozen=True, slots=True)
class ContributorSection:
    signins: int  # the count basis: SLA sign-ins in the period
    named: int  # of which naming at least one contributor
    signin_seconds: float | None  # the known durations of the basis summed; None: none known
    top: list[ContributorFigures]  # up to TOP_CONTRIBUTORS, most seconds first
    # the largest contributor of each sign-in in the period that names any, by
    # (device_id, started_at): every sign-in, flagged ones too (the CSV lists them all)
    by_signin: dict[tuple[str, float], Contributor]

    def top_of(self, s: SigninEntry) -> Contributor | None:
        """The largest contributor of a sign-in; None when it names none."""
        return self.by_signin.get((s.device_id, s.started_at))


def top_of(report: SlaReport, s: SigninEntry) -> Contributor | None:
    """A sign-in's largest named contributor; None when it names none or none were read."""
    c = report.contributors
    return None if c is None else c.top_of(s)


def contributor_figures(store: Store, report: SlaReport) -> ContributorSection:
    """The contributors of the sign-ins that started in ``[report.since, report.until)``,
    with the report's choice of flagged sign-ins."""
    since, until = report.since, report.until
    include = report.flagged.included
    by_signin = {
        (t.device_id, t.started_at): Contributor(t.kind, t.name, t.seconds)
        for t in store.top_per_signin(since, until)
    }
    basis = [s for s in report.signins if s.in_sla]
    known = [s.total_seconds for s in basis if s.total_seconds is not None]
    signin_seconds = sum(known) if known else None
    totals = store.contributor_totals(since, until, include, TOP_CONTRIBUTORS)
    each = store.contributor_signin_seconds(
        since, until, include, [(t.kind, t.name) for t in totals]
    )
    top = [
        ContributorFigures(
            kind=t.kind,
            name=t.name,
            signins=t.signins,
            total_seconds=t.seconds,
            median_seconds=percentile(each[(t.kind, t.name)], 50) or 0.0,
            share=None if not signin_seconds else t.known_seconds / signin_seconds,
        )
        for t in totals
    ]
    return ContributorSection(
        signins=len(basis),
        named=sum(1 for s in basis if (s.device_id, s.started_at) in by_signin),
        signin_seconds=signin_seconds,
        top=top,
        by_signin=by_signin,
    )
