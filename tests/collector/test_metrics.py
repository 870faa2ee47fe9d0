from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleetpulse.collector.metrics import DURATION_BUCKETS, AppLabels, IngestMetrics
from fleetpulse.collector.model import Incoming
from fleetpulse.contract.records import AppUsageRecord, SigninRecord, SigninState


def test_buckets_have_boundaries_at_both_sla_thresholds() -> None:
    assert 120 in DURATION_BUCKETS and 1800 in DURATION_BUCKETS


def test_app_labels_are_capped_and_hostile_names_become_other() -> None:
    reg = CollectorRegistry()
    m = IngestMetrics(reg, AppLabels(top_n=20, allowlist=["Teams.exe"]))
    hostile = ['quo"te', "new\nline", "x" * 10_000, "back\\slash"]
    records = [
        Incoming(i + 1, 1.8e9, AppUsageRecord(1.8e9, 60, name, 1, 1, 1, 0))
        for i, name in enumerate(hostile + [f"app{i}" for i in range(10_000)] + ["teams.exe"])
    ]
    m.observe("north", "windows", records, 1.8e9)
    text = generate_latest(reg).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    apps = {
        s.labels["app"]
        for s in families["fleetpulse_app_launches"].samples
        if s.name.endswith("_total")
    }
    assert len(apps) <= 22
    assert "other" in apps and "teams.exe" in apps
    assert not any('"' in a or "\n" in a or len(a) > 64 for a in apps)
    total = sum(
        s.value for s in families["fleetpulse_app_launches"].samples if s.name.endswith("_total")
    )
    assert total == len(records)


def test_login_histogram_counts_known_totals_only() -> None:
    reg = CollectorRegistry()
    m = IngestMetrics(reg)
    recs = [
        Incoming(1, 1.8e9, SigninRecord("s", "b", "h", 1.8e9, SigninState.COMPLETE, 130.0)),
        Incoming(2, 1.8e9, SigninRecord("t", "b", "h", 1.8e9, SigninState.COMPLETE, None)),
    ]
    m.observe("north", "linux", recs, 1.8e9)
    get = reg.get_sample_value
    assert get("fleetpulse_login_duration_seconds_count", {"site": "north", "os": "linux"}) == 1
    assert (
        get(
            "fleetpulse_login_duration_seconds_bucket",
            {"site": "north", "os": "linux", "le": "120.0"},
        )
        == 0
    )
    assert get("fleetpulse_wait_seconds_total", {"site": "north", "kind": "login"}) == 130.0
    assert get("fleetpulse_ingest_records_total", {"kind": "signin", "result": "accepted"}) == 2
