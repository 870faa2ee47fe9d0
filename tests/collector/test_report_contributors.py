"""The report's named contributors on SQLite and PostgreSQL: the 30-minute list names each
sign-in's largest one, the table ranks them over the period's SLA sign-ins, and every format
says the same (JSON and CSV with numbers)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from fleetpulse.collector.report import ReportOptions, make_report, render
from fleetpulse.collector.store.base import Store
from fleetpulse.contract.records import Contributor
from tests.collector.test_contributor_store import NOW, SLOW, ingest, signin, store  # noqa: F401

QUICK = (
    Contributor("profile", "local", 3.0),
    Contributor("gp_extension", "Drive Maps", 2.0),
    Contributor("startup_app", "teams.exe", 1.25),
)


@pytest.fixture
def fed(store: Store) -> Store:  # noqa: F811
    ingest(
        store,
        (1, signin("s1", NOW - 7200, total=1850.0, contributors=SLOW)),
        (2, signin("s2", NOW - 3600, total=60.0, contributors=QUICK)),
        # a first login: out of the SLA figures, and so out of the table by default
        (
            3,
            signin(
                "s3",
                NOW - 3000,
                total=900.0,
                contributors=(Contributor("profile", "temporary", 600.0),),
                first_login=True,
            ),
        ),
        # an unknown duration: counted, its seconds in the total but not in the share
        (
            4,
            signin(
                "s4",
                NOW - 2400,
                total=None,
                contributors=(Contributor("gp_extension", "Drive Maps", 10.0),),
            ),
        ),
        # a 30-minute sign-in that names nothing (as a Linux one)
        (5, signin("s5", NOW - 1800, total=2000.0, contributors=())),
    )
    return store


def test_the_table_ranks_contributors_over_the_sla_sign_ins(fed: Store) -> None:
    report = make_report(fed, NOW, ReportOptions(since="1d"))
    c = report.contributors
    assert c is not None
    assert (c.signins, c.named, c.signin_seconds) == (4, 3, 1850.0 + 60.0 + 2000.0)
    top = {(f.kind, f.name): f for f in c.top}
    assert list(top)[:2] == [("gp_extension", "Drive Maps"), ("gp_script", "map_printers.cmd")]
    drive = top[("gp_extension", "Drive Maps")]
    assert (drive.signins, drive.total_seconds, drive.median_seconds) == (
        3,
        pytest.approx(1660.123),
        10.0,
    )
    assert drive.share == pytest.approx((1648.123 + 2.0) / 3910.0)
    assert ("profile", "temporary") in top  # s1's temporary profile, not s3's
    assert top[("profile", "temporary")].total_seconds == 8.625
    assert top[("startup_app", "teams.exe")].total_seconds == 1.25 + 1.25

    flagged = make_report(fed, NOW, ReportOptions(since="1d", include_flagged=True))
    assert flagged.contributors is not None
    again = {(f.kind, f.name): f for f in flagged.contributors.top}
    assert flagged.contributors.signins == 5
    assert again[("profile", "temporary")].total_seconds == 600.0 + 8.625
    assert again[("profile", "temporary")].median_seconds == pytest.approx((600.0 + 8.625) / 2)


def test_no_known_duration_leaves_the_share_unknown(store: Store) -> None:  # noqa: F811
    ingest(store, (1, signin("s1", NOW - 600, total=None, contributors=QUICK)))
    c = make_report(store, NOW, ReportOptions(since="1d")).contributors
    assert c is not None and c.signin_seconds is None
    assert [f.share for f in c.top] == [None, None, None]
    assert "unknown" in render(make_report(store, NOW, ReportOptions(since="1d")), "md")


def test_every_format_names_the_top_contributor_of_each_30_minute_sign_in(fed: Store) -> None:
    report = make_report(fed, NOW, ReportOptions(since="1d"))
    words = "group_policy — Drive Maps 27 min 28 s"
    md = render(report, "md")
    assert f"| {words} |" in md and "| none named |" in md
    assert "## What slowed sign-ins: named contributors" in md
    assert "Count basis: the period's 4 SLA sign-in(s)" in md
    assert "| gp_extension | Drive Maps | a group policy extension" in md
    html = render(report, "html")
    assert f"<td>{words}</td>" in html and '<table id="contributors">' in html

    data = json.loads(render(report, "json"))
    long = data["long_signins"]
    assert [s["top_contributor"] for s in long] == [
        {
            "kind": "gp_extension",
            "phase": "group_policy",
            "name": "Drive Maps",
            "seconds": 1648.123,
        },
        None,
    ]
    section = data["contributors"]
    assert (section["signins"], section["signins_naming_any"]) == (4, 3)
    assert section["signin_seconds"] == 3910.0
    first = section["top"][0]
    assert (first["name"], first["signins"], first["median_seconds"]) == ("Drive Maps", 3, 10.0)
    assert first["share"] == pytest.approx(1650.123 / 3910.0)

    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    by_start = {r["started_at"][:19]: r for r in rows}
    assert len(rows) == 5
    named = [
        (r["top_contributor_kind"], r["top_contributor_name"], r["top_contributor_seconds"])
        for r in by_start.values()
    ]
    assert named == [
        ("gp_extension", "Drive Maps", "1648.123"),
        ("profile", "local", "3.0"),
        ("profile", "temporary", "600.0"),  # the CSV lists flagged sign-ins too
        ("gp_extension", "Drive Maps", "10.0"),
        ("", "", ""),  # none named: empty, not 0
    ]


def test_a_period_without_contributors_says_so(store: Store) -> None:  # noqa: F811
    report = make_report(store, NOW, ReportOptions(since="1d"))
    assert report.contributors is not None and report.contributors.top == []
    assert "None named in the period." in render(report, "md")
    assert '<p id="contributors">None named in the period.</p>' in render(report, "html")
    assert json.loads(render(report, "json"))["contributors"]["top"] == []
