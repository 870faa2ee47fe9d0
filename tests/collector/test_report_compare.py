"""``report --compare BEFORE AFTER`` through the real command on a store (SQLite and
PostgreSQL) filled with known sign-ins and boots: every figure of the comparison is worked out
here independently with numpy, in every format; the different-devices and different-coverage
warnings; partial weeks; the boots section; the periods' grammar."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy
import pytest
from scipy.stats import beta

from fleetpulse.collector.auth import digest
from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.report.period import parse_period, since_until
from fleetpulse.collector.store.base import open_store
from fleetpulse.contract.records import (
    BootRecord,
    BootType,
    Culprit,
    DeviceFacts,
    Phase,
    SigninRecord,
    SigninState,
)
from tests.procs import cli

DAY, HOUR = 86400.0, 3600.0
BEFORE_START = datetime(2026, 10, 5, tzinfo=UTC).timestamp()  # a Monday
AFTER_START = datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # a Monday
BEFORE, AFTER = "2026-10-05..2026-10-18", "2026-11-02..2026-11-15"  # two full ISO weeks each
WEEKS = 2.0
DEVICES = {
    "n1": "north",
    "n2": "north",
    "n3": "north",
    "n4": "north",
    "s1": "south",
    "s2": "south",
    "s3": "south",
}
INVENTORY = [*((f"host-{d}", s) for d, s in DEVICES.items()), ("host-gone", "north")]
PER_DEVICE = 20


def durations(i: int, after: bool) -> list[float]:
    """Device i's sign-ins: 30..~150 s before; half as long after (a known change)."""
    values = [30.0 + 5 * j + 3 * i for j in range(PER_DEVICE)]
    return [v / 2 for v in values] if after else values


# the two 30-minute sign-ins of the before period: (device, total), with group policy dominant
LONG_BEFORE = [("n1", 2000.0), ("s1", 1900.0)]
# boots of the after period: (device, hours after AFTER_START, total, culprits)
BOOTS = [
    (
        "n1",
        5.0,
        95.0,
        (Culprit("Contoso AV", "service", 30.0), Culprit("Sync", "application", 10.0)),
    ),
    ("n2", 6.0, 60.0, (Culprit("Contoso AV", "service", 20.0),)),
    ("s1", 7.0, 40.0, ()),
    ("s2", 8.0, None, ()),
]


def expected() -> dict[str, dict[str, list[float]]]:
    """period -> site -> SLA sign-in durations, as generated."""
    out: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for i, (dev, site) in enumerate(DEVICES.items()):
        out["before"].setdefault(site, []).extend(durations(i, False))
        if dev != "s3":  # s3 stops reporting: the periods cover different devices
            out["after"].setdefault(site, []).extend(durations(i, True))
    for dev, total in LONG_BEFORE:
        out["before"][DEVICES[dev]].append(total)
    return out


def hours_per_device_week(period: str, site: str | None) -> float:
    """Hours waited (sign-ins and boots) per reporting device and week."""
    waits: dict[str, float] = {}
    for i, (dev, dsite) in enumerate(DEVICES.items()):
        if site not in (None, dsite) or (period == "after" and dev == "s3"):
            continue
        waits[dev] = sum(durations(i, period == "after")) / HOUR
        if period == "before":
            waits[dev] += sum(t for d, t in LONG_BEFORE if d == dev) / HOUR
        else:
            waits[dev] += sum(t or 0.0 for d, _, t, _ in BOOTS if d == dev) / HOUR
    return sum(waits.values()) / len(waits) / WEEKS


@pytest.fixture
def db(db_url: str) -> str:
    s = open_store(db_url)
    s.migrate()
    s.import_inventory(INVENTORY)
    seq = 0

    def send(dev: str, record: SigninRecord | BootRecord) -> None:
        nonlocal seq
        seq += 1
        facts = DeviceFacts(f"host-{dev}", "windows", "11", "0.1.0")
        s.ingest(
            [Report(dev, facts, [Incoming(seq, BEFORE_START, record)], BEFORE_START)], BEFORE_START
        )

    for i, (dev, site) in enumerate(DEVICES.items()):
        s.create_token(f"t-{dev}", digest(f"fpt_{dev}"), site, BEFORE_START - 9 * DAY, None, None)
        s.enroll(
            digest(f"fpt_{dev}"),
            dev,
            digest("x"),
            f"host-{dev}",
            "windows",
            "11",
            "0.1.0",
            "hw",
            "mid",
            BEFORE_START - 8 * DAY,
        )
        for period, start in (("before", BEFORE_START), ("after", AFTER_START)):
            if period == "after" and dev == "s3":
                continue
            for j, total in enumerate(durations(i, period == "after")):
                at = start + (j * len(DEVICES) + i) * 2 * HOUR  # within 12 days
                send(
                    dev,
                    SigninRecord(
                        f"{period}{j}",
                        f"b{period}{j}",
                        "h",
                        at,
                        SigninState.COMPLETE,
                        total,
                        0.0,
                        (),
                        False,
                        False,
                    ),
                )
    for k, (dev, total) in enumerate(LONG_BEFORE):
        phases = (
            Phase("core", total - 10),
            Phase("responsive", 10.0),
            Phase("group_policy", total - 200),
        )
        send(
            dev,
            SigninRecord(
                f"long{k}",
                f"blong{k}",
                "h",
                BEFORE_START + (3 + k) * DAY,
                SigninState.COMPLETE,
                total,
                0.0,
                phases,
                False,
                False,
            ),
        )
    for k, (dev, hours, total, culprits) in enumerate(BOOTS):
        send(
            dev,
            BootRecord(
                f"boot{k}", AFTER_START + hours * HOUR, total, (), BootType.COLD, None, culprits
            ),
        )
    s.close()
    return db_url


def run(db: str, tmp: Path, fmt: str, *args: str) -> str:
    out = tmp / f"r.{fmt}"
    done = cli(
        "fleetpulse-collector", "report", "--db", db, "--format", fmt, "--out", str(out), *args
    )
    assert done.returncode == 0 and done.stdout == "", done.stderr
    return out.read_text(encoding="utf-8")


def test_comparison_json_matches_numpy_and_warns(db: str, tmp_path: Path) -> None:
    data = json.loads(run(db, tmp_path, "json", "--compare", BEFORE, AFTER))
    c = data["comparison"]
    want = expected()
    assert c["difference"] == "after minus before"
    assert (c["before"]["since"], c["before"]["until"]) == (
        "2026-10-05T00:00:00.000000Z",
        "2026-10-19T00:00:00.000000Z",
    )  # END date included
    assert (c["before"]["devices"], c["after"]["devices"]) == (7, 6)
    assert (c["before"]["coverage"], c["after"]["coverage"]) == (7 / 8, 6 / 8)
    assert c["warnings"][0].startswith(
        "The periods cover different devices: 1 reported only before and 0 only after (6 in both)"
    )
    assert c["warnings"][1] == (
        "Coverage differs: 7 of 8 expected devices before (87.5%), 6 of 8 after (75.0%)."
    )
    assert [s["site"] for s in c["scopes"]] == [None, "north", "south"]
    for scope in c["scopes"]:
        site = scope["site"]
        b = numpy.array([v for s, vs in want["before"].items() if site in (None, s) for v in vs])
        a = numpy.array([v for s, vs in want["after"].items() if site in (None, s) for v in vs])
        f = scope["figures"]
        assert (scope["before_signins"], scope["after_signins"]) == (len(b), len(a))
        for p in (50, 95):
            got = f[f"p{p}_seconds"]
            assert got["before"] == pytest.approx(numpy.percentile(b, p))
            assert got["after"] == pytest.approx(numpy.percentile(a, p))
            assert got["difference"] == pytest.approx(
                numpy.percentile(a, p) - numpy.percentile(b, p)
            )
            low, high = got["interval"]
            assert low <= got["difference"] <= high
        # every sign-in half as long: the median falls, and the interval shows it
        assert f["p50_seconds"]["excludes_zero"] is True
        assert f["p50_seconds"]["interval"][1] < 0
        share = f["share_within_slo"]
        assert share["before"] == pytest.approx(numpy.mean(b <= 120))
        assert share["after"] == pytest.approx(numpy.mean(a <= 120)) == 1.0
        assert share["interval"][0] < share["difference"] < share["interval"][1]
        long = f["long_rate"]
        assert long["before"] == pytest.approx(numpy.mean(b >= 1800))
        assert long["after"] == 0.0 and "Newcombe" in long["method"]
        hours = f["hours_per_device_week"]
        assert hours["before"] == pytest.approx(hours_per_device_week("before", site))
        assert hours["after"] == pytest.approx(hours_per_device_week("after", site))
    fleet = c["scopes"][0]["figures"]
    assert fleet["long_rate"]["before"] == pytest.approx(2 / 142)

    # the report itself is the AFTER period's, with both verdicts
    after_n = sum(len(v) for v in want["after"].values())
    lv = data["long_verdict"]
    assert (lv["long"], lv["known_duration"], lv["one_sided"]) == (0, after_n, True)
    assert lv["interval"][1] == pytest.approx(1 - 0.05 ** (1 / after_n))
    assert lv["low_coverage"] is True and "coverage is low" in lv["text"]
    assert lv["text"].startswith(
        f"0 of {after_n} sign-ins took 30 min or more: with 95% confidence fewer than "
    )
    assert (
        data["slo_verdict"] == f"PASS: 100.0% ≥ the 95% target ({after_n} of {after_n}"
        " sign-ins within 120 s)."
    )

    # seeded: the same store gives the same report
    assert json.loads(run(db, tmp_path, "json", "--compare", BEFORE, AFTER))["comparison"] == c


def test_comparison_in_markdown_csv_and_html(db: str, tmp_path: Path) -> None:
    md = run(db, tmp_path, "md", "--compare", BEFORE, AFTER)
    section = md.split("## Before and after")[1].split("\n## ")[0]
    assert "> **Warning:** The periods cover different devices" in section
    assert "> **Warning:** Coverage differs" in section
    rows = [line for line in section.splitlines() if line.startswith("| fleet |")]
    assert [r.split(" | ")[1] for r in rows] == [
        "p50 sign-in (s)",
        "p95 sign-in (s)",
        "within the SLO (120 s)",
        "took ≥ 30 min",
        "staff-hours lost per device-week",
    ]
    assert rows[0].endswith("| lower: better |")
    assert "Newcombe (1998)" in section and "Efron" in section

    table = list(csv.DictReader(io.StringIO(run(db, tmp_path, "csv", "--compare", BEFORE, AFTER))))
    assert len(table) == 3 * 5
    fleet = {r["figure"]: r for r in table if r["scope"] == "fleet"}
    b = numpy.array([v for vs in expected()["before"].values() for v in vs])
    assert float(fleet["p95_seconds"]["before"]) == pytest.approx(numpy.percentile(b, 95))
    assert fleet["p50_seconds"]["excludes_zero"] == "true"
    assert {r["site"] for r in table} == {"", "north", "south"}
    assert all("Coverage differs" in r["warnings"] for r in table)

    page = run(db, tmp_path, "html", "--compare", BEFORE, AFTER)
    assert 'id="comparison"' in page and page.count('<p class="warning">') == 2
    assert 'id="slo-verdict"' in page and 'id="long-verdict"' in page
    assert re.search(r'<td class="better">lower: better</td>', page)


def test_a_single_period_has_no_comparison_and_csv_lists_sign_ins(db: str, tmp_path: Path) -> None:
    data = json.loads(run(db, tmp_path, "json", "--since", "2026-10-05", "--until", "2026-10-18"))
    assert data["comparison"] is None
    assert data["fleet"]["signins"] == 142 and data["fleet"]["long"] == 2
    lv = data["long_verdict"]
    assert (lv["long"], lv["devices_with_long"], lv["one_sided"]) == (2, 2, False)
    # exact (Clopper-Pearson) 2 of 142 from its beta-quantile definition
    assert lv["interval"] == pytest.approx(
        [beta.ppf(0.025, 2, 141), beta.ppf(0.975, 3, 140)], rel=1e-9
    )
    assert "2 of 142 sign-ins (1.41%) took 30 min or more, on 2 device(s)" in lv["text"]
    assert "7 of 8 expected devices reported (87.5%): coverage is low" in lv["text"]
    listed = [
        (s["hostname"], s["dominant_phase"], s["dominant_phase_meaning"])
        for s in data["long_signins"]
    ]
    assert listed == [
        ("host-n1", "group_policy", "applying group policy"),
        ("host-s1", "group_policy", "applying group policy"),
    ]
    rows = list(
        csv.DictReader(
            io.StringIO(run(db, tmp_path, "csv", "--since", "2026-10-05", "--until", "2026-10-18"))
        )
    )
    assert len(rows) == 142


def test_partial_weeks_are_marked(db: str, tmp_path: Path) -> None:
    # Wednesday 7 October to Sunday 18 October: W41 from Wednesday (5 days), W42 whole
    data = json.loads(run(db, tmp_path, "json", "--since", "2026-10-07", "--until", "2026-10-18"))
    assert [(w["week"], w["partial"], w["days"]) for w in data["weeks"]] == [
        ("2026-W41", True, 5.0),
        ("2026-W42", False, 7.0),
    ]
    md = run(db, tmp_path, "md", "--since", "2026-10-07", "--until", "2026-10-18")
    assert "| 2026-W41 (partial: 5.0 of 7 days) | 2026-10-07 |" in md
    assert "| 2026-W42 | 2026-10-12 |" in md
    page = run(db, tmp_path, "html", "--since", "2026-10-07", "--until", "2026-10-18")
    assert "<td>2026-W41 (partial: 5.0 of 7 days)</td>" in page


def test_boots_section_names_slowest_boots_and_top_culprits(db: str, tmp_path: Path) -> None:
    data = json.loads(run(db, tmp_path, "json", "--since", "2026-11-02", "--until", "2026-11-15"))
    boots = data["boots"]
    assert (boots["boots"], boots["unknown_duration"], boots["with_culprits"]) == (4, 1, 2)
    assert boots["percentiles_seconds"]["p50"] == pytest.approx(numpy.percentile([95, 60, 40], 50))
    assert [(b["hostname"], b["total_seconds"]) for b in boots["slowest"]] == [
        ("host-n1", 95.0),
        ("host-n2", 60.0),
        ("host-s1", 40.0),
    ]
    assert boots["top_culprits"] == [
        {
            "name": "Contoso AV",
            "kind": "service",
            "boots": 2,
            "devices": 2,
            "total_seconds": 50.0,
            "median_seconds": 25.0,
        },
        {
            "name": "Sync",
            "kind": "application",
            "boots": 1,
            "devices": 1,
            "total_seconds": 10.0,
            "median_seconds": 10.0,
        },
    ]
    md = run(db, tmp_path, "md", "--since", "2026-11-02", "--until", "2026-11-15")
    assert "| host-n1 | north | 2026-11-02 05:00:00 | 1 min 35 s | cold | Contoso AV" in md
    assert "| Contoso AV | a service (event 103) | 2 | 2 | 50.0 s | 25.0 s |" in md
    page = run(db, tmp_path, "html", "--since", "2026-11-02", "--until", "2026-11-15")
    assert 'id="slowest-boots"' in page and 'id="boot-culprits"' in page


NOW = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-10-01..2026-10-28", "2026-10-01T00:00", "2026-10-29T00:00"),
        ("2026-10-01T08:30..2026-10-02T08:30:00Z", "2026-10-01T08:30", "2026-10-02T08:30"),
        ("28d", "2026-11-03T12:00", "2026-12-01T12:00"),
        ("56d..28d", "2026-10-06T12:00", "2026-11-03T12:00"),
        ("2026-11-01..now", "2026-11-01T00:00", "2026-12-01T12:00"),
        ("2w..1w", "2026-11-17T12:00", "2026-11-24T12:00"),
    ],
)
def test_period_grammar(text: str, since: str, until: str) -> None:
    def at(s: str) -> float:
        return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()

    assert parse_period(text, NOW, "--compare") == (at(since), at(until))


def test_since_and_until_take_dates_and_durations() -> None:
    assert since_until(None, None, NOW) == (NOW - 28 * DAY, NOW)
    assert since_until("2026-11-01", "7d", NOW) == (
        datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
        NOW - 7 * DAY,
    )
    with pytest.raises(ConfigError, match="the period is empty or reversed"):
        since_until("7d", "14d", NOW)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("9999999d", None),
        ("28d", "9999-12-31"),
        ("999999999999d", None),
        ("28d", "0001-01-01"),
        ("9999-12-01", "9999-12-30"),
    ],
)
def test_points_no_calendar_holds_are_one_line_errors(since: str, until: str | None) -> None:
    # Python's dates end at years 1 and 9999: beyond them a traceback came out.
    with pytest.raises(ConfigError, match=r"out of range|empty or reversed"):
        since_until(since, until, NOW)


def test_a_site_whose_waits_are_all_unknown_has_unknown_staff_hours(
    db_url: str, tmp_path: Path
) -> None:
    # A device that reported only boots of unknown duration (a Linux machine without
    # systemd-analyze data, say) waited an unknown time: not 0 hours a week.
    s = open_store(db_url)
    s.migrate()
    s.create_token("t", digest("fpt_u"), "east", BEFORE_START - 9 * DAY, None, None)
    s.enroll(digest("fpt_u"), "u1", digest("x"), "host-u1", "linux", "12", "0.1.0", "hw", "mid",
             BEFORE_START - 8 * DAY)  # fmt: skip
    facts = DeviceFacts("host-u1", "linux", "12", "0.1.0")
    for seq, start in enumerate((BEFORE_START, AFTER_START), 1):
        boot = BootRecord(f"b{seq}", start + HOUR, None, (), BootType.COLD, None, ())
        s.ingest([Report("u1", facts, [Incoming(seq, start, boot)], start)], start)
    s.close()
    data = json.loads(run(db_url, tmp_path, "json", "--compare", BEFORE, AFTER))
    east = next(x for x in data["comparison"]["scopes"] if x["site"] == "east")
    assert (east["before_devices"], east["after_devices"]) == (1, 1)
    hours = east["figures"]["hours_per_device_week"]
    assert (hours["before"], hours["after"], hours["difference"]) == (None, None, None)
