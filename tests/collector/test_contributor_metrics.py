"""fleetpulse_login_contributor_seconds_total: seconds by kind and name, names capped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleetpulse.collector.metrics import ContributorLabels, IngestMetrics
from fleetpulse.collector.model import Incoming
from fleetpulse.contract.records import (
    BootRecord,
    Contributor,
    Culprit,
    SigninRecord,
    SigninState,
)

NOW = 1.8e9


def signin(seq: int, contributors: list[Contributor], state: SigninState) -> Incoming:
    record = SigninRecord(
        f"s{seq}", "b", "h", NOW - 600, state, 600.0, contributors=tuple(contributors)
    )
    return Incoming(seq, NOW, record)


def series(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(reg).decode()
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "fleetpulse_login_contributor_seconds"
    ]
    return {
        (s.labels["kind"], s.labels["name"]): s.value
        for s in family.samples
        if s.name == "fleetpulse_login_contributor_seconds_total"
    }


def test_500_distinct_names_stay_capped_and_no_second_is_lost() -> None:
    reg = CollectorRegistry()
    m = IngestMetrics(reg, contributors=ContributorLabels(top_n=20, allowlist=["Drive Maps"]))
    records = [
        signin(
            i + 1,
            [
                Contributor("startup_app", f"tool{i}.exe", 1.5),
                Contributor("gp_script", f"script{i}.cmd", 0.25),
            ],
            SigninState.COMPLETE,
        )
        for i in range(500)
    ]
    records.append(
        signin(
            501,
            [
                Contributor("gp_extension", "Drive Maps", 1648.123),
                Contributor("profile", "temporary", 8.625),
                Contributor("startup_app", 'quo"te.exe', 2.0),
            ],
            SigninState.COMPLETE,
        )
    )
    m.observe("hq", "windows", records, NOW)
    got = series(reg)
    names = {name for _, name in got}
    # 20 first-come pairs, the allowlisted and the closed profile vocabulary, and "other"
    assert len(got) == 20 + 2 + 2
    assert ("gp_extension", "Drive Maps") in got and ("profile", "temporary") in got
    assert got[("gp_extension", "Drive Maps")] == 1648.123
    # the first 20 pairs seen are 10 tools and 10 scripts; the hostile name is "other" too
    assert got[("startup_app", "other")] == 490 * 1.5 + 2.0
    assert got[("gp_script", "other")] == 490 * 0.25
    assert not any('"' in n for n in names)
    assert sum(got.values()) == 500 * 1.75 + 1648.123 + 8.625 + 2.0


def test_only_complete_sign_ins_count() -> None:
    reg = CollectorRegistry()
    m = IngestMetrics(reg)
    c = [Contributor("gp_extension", "Folder Redirection", 95.25)]
    m.observe("hq", "windows", [signin(1, c, SigninState.IN_PROGRESS)], NOW)
    assert series(reg) == {}
    m.observe("hq", "windows", [signin(2, c, SigninState.COMPLETE)], NOW)
    assert series(reg) == {("gp_extension", "Folder Redirection"): 95.25}


def test_seeded_names_keep_their_place_and_spelling() -> None:
    labels = ContributorLabels(top_n=1)
    labels.seed([("gp_extension", "Drive Maps")])
    assert labels.label("gp_extension", "drive maps") == "Drive Maps"
    assert labels.label("gp_extension", "Printers") == "other"
    assert labels.label("profile", "roaming") == "roaming"  # closed vocabulary: never capped


def culprit_series(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(reg).decode()
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "fleetpulse_boot_culprit_seconds"
    ]
    return {(s.labels["kind"], s.labels["name"]): s.value for s in family.samples}


def test_boot_culprits_are_counted_by_kind_and_name_with_the_same_cap() -> None:
    reg = CollectorRegistry()
    m = IngestMetrics(reg, culprits=ContributorLabels(top_n=3))
    boots = [
        Incoming(
            i + 1,
            NOW,
            BootRecord(
                f"b{i}",
                NOW - 3600 + i,
                90.0,
                culprits=(
                    Culprit(f"Service {i}", "service", 2.5),
                    Culprit("Contoso Filter Driver", "driver", 1.25),
                ),
            ),
        )
        for i in range(500)
    ]
    m.observe("hq", "windows", boots, NOW)
    got = culprit_series(reg)
    # the first three pairs seen: two services and the driver; every other service is "other"
    assert got == {
        ("service", "Service 0"): 2.5,
        ("driver", "Contoso Filter Driver"): 500 * 1.25,
        ("service", "Service 1"): 2.5,
        ("service", "other"): 498 * 2.5,
    }
    # the sign-in contributors' cap is a separate one
    assert m.contributor_labels is not m.culprit_labels
