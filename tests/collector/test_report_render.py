"""The report's renderers: the same figures in Markdown, HTML, JSON and CSV; unknown stays
unknown in each, agent-supplied text cannot inject markup or spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from fleetpulse.collector.report import render, text
from fleetpulse.collector.report.data import durations
from fleetpulse.collector.report.figures import (
    Coverage,
    Flagged,
    SigninEntry,
    SiteFigures,
    SlaReport,
    UnusedDevice,
    WeekFigures,
)

NOW = 1_800_000_000.0


def entry(
    host: str,
    ago: float,
    total: float | None,
    first: bool | None = False,
    in_sla: bool = True,
    phase: str | None = "core",
) -> SigninEntry:
    return SigninEntry(
        f"id-{host}",
        host,
        "north",
        "windows",
        NOW - ago,
        total,
        first,
        False,
        in_sla,
        phase,
        None if phase is None else (total or 0) * 0.9,
    )


def make(entries: list[SigninEntry], coverage: Coverage, target: float = 0.95) -> SlaReport:
    sla = [e for e in entries if e.in_sla]
    fleet = durations(sla, 120.0)
    return SlaReport(
        generated_at=NOW,
        since=NOW - 7 * 86400,
        until=NOW,
        slo_seconds=120.0,
        target=target,
        fleet=fleet,
        flagged=Flagged(
            sum(1 for e in entries if e.first_login),
            0,
            sum(1 for e in entries if e.flagged),
            0,
            False,
        ),
        coverage=coverage,
        sites=[SiteFigures("north", coverage.reporting, None, fleet)],
        weeks=[WeekFigures("2027-W02", NOW - 7 * 86400, NOW, fleet, 3600.0, 1800.0, 1, 2, 0)],
        unused=[UnusedDevice("id-idle", "idle-tablet", "north", NOW - 30 * 86400, None)],
        signins=entries,
    )


HOSTILE = '<img src=x onerror="alert(1)">'
ENTRIES = [  # oldest first, as the store returns them
    entry("pc-5", 500, 2500.0, first=True, in_sla=False),
    entry("=cmd|' /C calc'!A0", 400, None),
    entry(HOSTILE, 300, 1900.0, phase=None),
    entry("pc-2", 200, 2000.0, phase="group_policy"),
    entry("pc-1", 100, 40.0),
]
NO_INVENTORY = Coverage(5, None, None, None)
INVENTORY = Coverage(5, 8, 4, 1)


def test_verdict_sentence_and_outcome() -> None:
    report = make(ENTRIES, INVENTORY)
    assert text.verdict(report) == (
        "33.3% of 3 sign-ins on 4 of 8 expected devices met the 120 s target; 2 took ≥ 30 min."
        " 1 more sign-in(s) have an unknown duration and are not counted."
    )
    assert text.outcome(report) == ("FAIL: 33.3% < the 95% target (1 of 3 sign-ins within 120 s).")
    assert "5 reporting devices (expected: unknown" in text.verdict(make(ENTRIES, NO_INVENTORY))
    assert text.outcome(make([], NO_INVENTORY)).startswith("NO VERDICT")


@pytest.mark.parametrize(
    ("share", "target", "shown"),
    [
        (0.9496, 0.95, "94.96%"),
        (0.95, 0.95, "95.0%"),
        (0.9999, 1.0, "99.99%"),
        (0.5, 0.95, "50.0%"),
        (None, 0.95, "unknown"),
    ],
)
def test_a_share_never_reads_as_the_target_when_it_is_not(
    share: float | None, target: float, shown: str
) -> None:
    assert text.share_against(share, target) == shown


def test_markdown_lists_long_sign_ins_and_says_unknown() -> None:
    md = render(make(ENTRIES, NO_INVENTORY), "md")
    section = md.split("## Sign-ins that took 30 minutes or more")[1].split("\n## ")[0]
    rows = [line[2:-2].split(" | ") for line in section.splitlines()[4:] if line]
    escaped = '\\<img src=x onerror="alert(1)"\\>'  # rendered as text, not as a tag
    # hostname and site first, the device id last; oldest first, flagged out
    assert [(r[0], r[1], r[-1]) for r in rows] == [
        (escaped, "north", f"id-{escaped}"),
        ("pc-2", "north", "id-pc-2"),
    ]
    assert rows[1][4] == "applying group policy [group_policy, 30 min 00 s]"
    assert rows[0][4] == "unknown"
    assert HOSTILE not in md
    assert "expected: unknown" in md and "| unknown |" in md
    assert "1 first login(s)" in md and "Excluded from the SLA figures" in md
    assert "| idle-tablet | north | id-idle |" in md and "none stored" in md


def test_markdown_passes_no_control_character_of_agent_text_to_a_terminal() -> None:
    # The Markdown goes to stdout by default: an escape sequence in a hostname (or a
    # model name) would recolour, retitle or rewrite the reader's terminal.
    host = "pc-\x1b]0;owned\x07\x1b[2J\u202egpj.exe\x00"
    md = render(make([entry(host, 300, 1900.0)], NO_INVENTORY), "md")
    assert not [c for c in md if not c.isprintable() and c != "\n"]
    assert "pc-\ufffd]0;owned\ufffd\ufffd[2J\ufffdgpj.exe\ufffd" in md


def test_json_has_every_figure_and_nulls_for_unknowns() -> None:
    data = json.loads(render(make(ENTRIES, NO_INVENTORY), "json"))
    assert data["devices"]["expected"] is None and data["devices"]["coverage"] is None
    assert data["fleet"]["signins"] == 4 and data["fleet"]["unknown_duration"] == 1
    assert data["fleet"]["percentiles_seconds"]["p50"] == 1900.0
    assert [s["hostname"] for s in data["long_signins"]] == [HOSTILE, "pc-2"]
    assert data["long_signins"][0]["dominant_phase"] is None
    assert data["long_signins"][1]["started_at"] == "2027-01-15T07:56:40.000000Z"
    assert data["weeks"][0]["wait_hours"] == {"signin": 1.0, "boot": 0.5, "total": 1.5}
    assert data["unused_devices"][0]["last_signin_at"] is None
    assert "linear" in data["percentile_method"]
    empty = json.loads(render(make([], NO_INVENTORY), "json"))
    assert set(empty["fleet"]["percentiles_seconds"].values()) == {None}
    assert empty["meets_target"] is None and empty["fleet"]["share_within_slo"] is None


def test_csv_has_every_sign_in_empty_for_unknown_and_no_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(render(make(ENTRIES, NO_INVENTORY), "csv"))))
    assert len(rows) == len(ENTRIES)
    by_host = {r["hostname"]: r for r in rows}
    formula = by_host["'=cmd|' /C calc'!A0"]  # quoted: a spreadsheet shows it as text
    assert formula["total_seconds"] == "" and formula["within_slo"] == ""
    assert by_host["pc-5"]["first_login"] == "true" and by_host["pc-5"]["in_sla"] == "false"
    assert by_host["pc-1"]["within_slo"] == "true" and by_host["pc-2"]["within_slo"] == "false"
    assert by_host["pc-2"]["dominant_phase"] == "group_policy"


def test_html_is_self_contained_escaped_and_has_charts() -> None:
    page = render(make(ENTRIES, INVENTORY), "html")
    assert page.count("<svg") == 4 and page.count("</svg>") == 4
    assert HOSTILE not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert not re.search(r"<script|<link|<iframe|@import|url\(|<[^>]*\s(src|href)=", page)
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * 4
    assert 'id="long-signins"' in page and "FAIL: 33.3%" in page


def test_unknown_format_is_a_user_error() -> None:
    from fleetpulse.collector.errors import ConfigError

    with pytest.raises(ConfigError, match="--format must be one of md, html, json, csv"):
        render(make([], NO_INVENTORY), "pdf")


def test_the_30_minute_verdict_with_and_without_long_sign_ins() -> None:
    some = make(ENTRIES, INVENTORY)  # 2 of 3 known SLA sign-ins took >= 30 min
    assert text.long_outcome(some) == "≥ 30 MIN: 2 of 3 sign-ins (66.7%)"
    assert text.long_verdict(some).startswith(
        "2 of 3 sign-ins (66.7%) took 30 min or more, on 2 device(s): with 95% confidence"
        " between 9.43% and 99.2% of sign-ins do (exact Clopper-Pearson (1934) binomial"
        " interval)."
    )
    assert text.long_verdict(some).endswith(
        "4 of 8 expected devices reported (50.0%): coverage is low. The 4 silent device(s) are"
        " not measured and could be the slow ones, so this is weaker evidence for the whole"
        " fleet than the count alone suggests."
    )
    quick = [entry(f"pc-{i}", 100 + i, 30.0) for i in range(400)]
    none = make(quick, Coverage(31, 32, 31, 0))
    assert text.long_outcome(none) == "≥ 30 MIN: NONE of 400 sign-ins"
    # 1 - 0.05 ** (1 / 400) = 0.007461...: rounded up to 3 digits
    assert text.long_verdict(none) == (
        "0 of 400 sign-ins took 30 min or more: with 95% confidence fewer than 7.47 in 1,000"
        " do (exact Clopper-Pearson (1934) binomial interval, one-sided upper bound). 31 of 32"
        " expected devices reported (96.9%); the 1 silent device(s) are not in these figures."
    )
    assert "Coverage unknown (no inventory imported)" in text.long_verdict(
        make(quick, NO_INVENTORY)
    )
    assert text.long_outcome(make([], NO_INVENTORY)).startswith("≥ 30 MIN: NO VERDICT")


def test_both_verdicts_are_stated_on_their_own_in_every_format() -> None:
    report = make(ENTRIES, INVENTORY)
    md = render(report, "md")
    assert "1. **Within the SLO — FAIL: 33.3% < the 95% target" in md
    assert "2. **Sign-ins of 30 minutes or more — ≥ 30 MIN: 2 of 3 sign-ins (66.7%).**" in md
    page = render(report, "html")
    slo = page.split('id="slo-verdict"')[1].split("</section>")[0]
    long = page.split('id="long-verdict"')[1].split("</section>")[0]
    assert 'class="badge fail">FAIL: 33.3%' in slo
    assert 'class="badge fail">≥ 30 MIN: 2 of 3' in long and "Clopper-Pearson" in long
    data = json.loads(render(report, "json"))
    assert data["slo_verdict"].startswith("FAIL: 33.3%")
    assert data["long_verdict"]["interval"] == pytest.approx([0.0943, 0.9916], abs=1e-4)


def test_per_site_axis_shows_a_narrow_difference_and_the_target() -> None:
    from fleetpulse.collector.report import svg

    chart = svg.shares("Within the SLO per site", ["a", "b"], [0.949, 0.961], 0.95)
    widths = [
        float(w)
        for w in re.findall(
            r'<rect x="120" y="\d+" width="([\d.]+)" height="18"'
            r' fill="#(?:2e7d32|c62828)"',
            chart,
        )
    ]
    assert len(widths) == 2
    # 0..100 % would draw them 380 x 0.949 = 360.6 and 365.2 px: 4.6 px apart
    assert widths[1] - widths[0] > 40
    assert "axis starts at 92%, not 0" in chart and ">target 95%<" in chart
    wide = svg.shares("Within the SLO per site", ["a", "b"], [0.40, 0.99], 0.95)
    assert "axis starts" not in wide and ">0%<" in wide


def test_counts_read_the_same_everywhere_with_thousands_separated() -> None:
    many = [entry(f"pc-{i}", 100 + i, 40.0) for i in range(1200)]
    report = make(many, Coverage(1500, 2000, 1400, 100))
    md = render(report, "md")
    assert "of 1,200 sign-ins on 1,400 of 2,000 expected devices" in text.verdict(report)
    assert "- Sign-ins: 1,200 (1,200 with a known duration, 0 unknown)" in md
    assert "1200" not in md.replace("-", "")  # no count left without its separator
    assert "1,400 / 2,000" in render(report, "html")
