"""The SLA report: exact figures from the store by event time, rendered for people or tools.

``data`` computes the figures (``figures``) from a store; ``render_*`` only format them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from fleetpulse.collector.durations import parse_duration
from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.report.boots import boot_figures
from fleetpulse.collector.report.compare import compare, sample
from fleetpulse.collector.report.contributors import contributor_figures
from fleetpulse.collector.report.data import build_report, percentile
from fleetpulse.collector.report.figures import SlaReport
from fleetpulse.collector.report.kept import kept_warning
from fleetpulse.collector.report.models import model_section
from fleetpulse.collector.report.period import DURATION, parse_period, since_until
from fleetpulse.collector.report.render_csv import render_csv
from fleetpulse.collector.report.render_html import render_html
from fleetpulse.collector.report.render_json import render_json
from fleetpulse.collector.report.render_md import render_md
from fleetpulse.collector.report.sessions import session_figures
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.store.database import Access

__all__ = [
    "FORMATS",
    "ReportOptions",
    "SlaReport",
    "build_report",
    "make_report",
    "percentile",
    "render",
    "write_report",
]

FORMATS: dict[str, Callable[[SlaReport], str]] = {
    "md": render_md,
    "html": render_html,
    "json": render_json,
    "csv": render_csv,
}


def render(report: SlaReport, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt](report)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The report command's options as typed (strings are parsed and checked here)."""

    since: str | None = None  # a point (see ``period``); default 28d
    until: str | None = None  # a point; default now
    compare: tuple[str, str] | None = None  # BEFORE and AFTER periods
    slo: float = 120.0
    target: float = 0.95
    fmt: str = "md"
    include_flagged: bool = False


def _check(o: ReportOptions) -> None:
    if o.fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {o.fmt!r}")
    if not o.slo > 0 or o.slo == float("inf"):
        raise ConfigError(f"--slo must be a positive number of seconds, got {o.slo:g}")
    if not 0 < o.target <= 1:
        raise ConfigError(f"--target must be a share in (0, 1], e.g. 0.95, got {o.target:g}")
    if o.since is not None and DURATION.match(o.since.strip()) and parse_duration(o.since) <= 0:
        raise ConfigError(f"--since must be a positive duration, got {o.since!r}")
    if o.compare is not None and (o.since is not None or o.until is not None):
        raise ConfigError("--compare takes its own two periods: drop --since/--until")


def _period_report(
    store: Store, now: float, since: float, until: float, o: ReportOptions
) -> SlaReport:
    """The figures of [since, until), with the boot, session, contributor and by-model
    sections; generated
    ``now``."""
    report = build_report(store, until, until - since, o.slo, o.target, o.include_flagged)
    return replace(
        report,
        generated_at=now,
        boots=boot_figures(store, since, until),
        sessions=session_figures(store, since, until),
        contributors=contributor_figures(store, report),
        models=model_section(store, report, since, until),
    )


def make_report(store: Store, now: float, o: ReportOptions) -> SlaReport:
    """The report of one period, or with ``compare`` the AFTER period's report carrying the
    comparison with BEFORE. Raises ConfigError on a bad period."""
    kept = store.retention_recorded().get("signin")
    if o.compare is None:
        since, until = since_until(o.since, o.until, now)
        report = _period_report(store, now, since, until, o)
        warning = kept_warning(since, now, kept)
        return report if warning is None else replace(report, warnings=[warning])
    (a0, a1), (b0, b1) = (
        parse_period(o.compare[0], now, "--compare BEFORE"),
        parse_period(o.compare[1], now, "--compare AFTER"),
    )
    before = _period_report(store, now, a0, a1, o)
    after = _period_report(store, now, b0, b1, o)
    a = sample(store, a0, a1, o.include_flagged)
    b = sample(store, b0, b1, o.include_flagged)
    c = compare(before, after, a, b)
    warning = kept_warning(min(a0, b0), now, kept)
    if warning is None:
        return replace(after, comparison=c)
    return replace(
        after, comparison=replace(c, warnings=[warning, *c.warnings]), warnings=[warning]
    )


def write_report(db: str, now: float, options: ReportOptions, out: Path | None) -> str | None:
    """Checks the options, builds and renders the report; writes it to ``out`` or returns
    the text for stdout. Every user mistake is a ConfigError with a one-line message."""
    _check(options)
    if options.compare is None:
        since_until(options.since, options.until, now)  # a bad period fails before the db
    else:
        for i, what in enumerate(("--compare BEFORE", "--compare AFTER")):
            parse_period(options.compare[i], now, what)
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///") :]).is_file():
        raise ConfigError(f"no SQLite database at {db[len('sqlite:///') :]}")
    store = open_store(db, Access.READ)
    try:
        report = make_report(store, now, options)
    finally:
        store.close()
    for warning in report.warnings:  # also where the format has no place for it (CSV)
        print(f"warning: {warning}", file=sys.stderr)
    text = render(report, options.fmt)
    if out is None:
        return text
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc}") from exc
    return None
