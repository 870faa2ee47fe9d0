"""The SLA report: exact figures from the store by event time, rendered for people or tools.

``data`` computes the figures (``figures``) from a store; ``render_*`` only format them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from collector.durations import parse_duration
from collector.errors import ConfigError
from collector.report.data import build_report, percentile
from collector.report.figures import SlaReport
from collector.report.render_csv import render_csv
from collector.report.render_html import render_html
from collector.report.render_json import render_json
from collector.report.render_md import render_md
from collector.store.base import open_store

__all__ = ["FORMATS", "SlaReport", "build_report", "percentile", "render", "write_report"]

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


def write_report(
    db: str,
    now: float,
    since: str,
    slo: float,
    target: float,
    fmt: str,
    include_flagged: bool,
    out: Path | None,
) -> str | None:
    """Checks the options, builds and renders the report; writes it to ``out`` or returns
    the text for stdout. Every user mistake is a ConfigError with a one-line message."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    since_seconds = parse_duration(since)
    if since_seconds <= 0:
        raise ConfigError(f"--since must be a positive duration, got {since!r}")
    if not slo > 0 or slo == float("inf"):
        raise ConfigError(f"--slo must be a positive number of seconds, got {slo:g}")
    if not 0 < target <= 1:
        raise ConfigError(f"--target must be a share in (0, 1], e.g. 0.95, got {target:g}")
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///") :]).is_file():
        raise ConfigError(f"no SQLite database at {db[len('sqlite:///') :]}")
    store = open_store(db)
    try:
        store.migrate()
        report = build_report(store, now, since_seconds, slo, target, include_flagged)
    finally:
        store.close()
    text = render(report, fmt)
    if out is None:
        return text
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc}") from exc
    return None
