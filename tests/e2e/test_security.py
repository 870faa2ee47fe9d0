"""Security at the wire: every refusal has its exact status and stores nothing; no user
name, path or command line from the recorded fixtures reaches the database or /metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform import _windows
from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.sources.apps import normalise_app
from fleetpulse.agent.sources.signin import SigninSource
from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import AppUsageRecord, DeviceFacts
from fleetpulse.contract.serde import record_to_bytes
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.agent.test_windows_backend import at, env_for
from tests.e2e.test_pipeline import _report, stored
from tests.e2e.test_pipeline import enroll as enroll_cli
from tests.procs import CollectorProc, cli, start_collector

FACTS = DeviceFacts("sec-host", "windows", "11", "0.1.0")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    yield c
    c.stop()


def _token(c: CollectorProc, *extra: str) -> str:
    made = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", c.db, *extra)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _enroll_fails(c: CollectorProc, token: str, tmp_path: Path) -> str:
    done = cli(
        "fleetpulse-agent",
        "enroll",
        "--collector",
        c.grpc,
        "--token",
        token,
        "--state-dir",
        str(tmp_path / "x"),
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    return done.stderr


def test_bad_tokens_are_unauthenticated_and_enroll_nothing(
    collector: CollectorProc, tmp_path: Path
) -> None:
    expired = _token(collector, "--expires", "1s")
    used = _token(collector, "--max-uses", "1")
    revoked = _token(collector)
    enroll(collector.grpc, used, FACTS)
    token_id = (
        cli("fleetpulse-collector", "token", "list", "--db", collector.db)
        .stdout.splitlines()[-1]
        .split()[0]
    )
    assert (
        cli("fleetpulse-collector", "token", "revoke", token_id, "--db", collector.db).returncode
        == 0
    )
    time.sleep(1.1)
    cases = {
        expired: "has expired",
        used: "is used up",
        revoked: "was revoked",
        "fpt_" + "A" * 43: "is not known",
        "garbage": "is malformed",
    }
    for token, why in cases.items():
        err = _enroll_fails(collector, token, tmp_path)
        assert "UNAUTHENTICATED" in err and why in err, err
    assert stored(collector.db, "devices") == 1  # only the one good enrollment


def test_credential_of_another_device_is_permission_denied(
    collector: CollectorProc, tmp_path: Path
) -> None:
    a = enroll_cli(collector.grpc, collector.db, tmp_path / "a")
    b = enroll_cli(collector.grpc, collector.db, tmp_path / "b")
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Report(
                _report(b, range(1, 3)),
                metadata=(("authorization", f"Device {a['device_secret']}"),),
                timeout=10,
            )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert b["device_id"] in err.value.details()
    assert stored(collector.db, "signins") == 0


def test_revoked_device_is_refused(collector: CollectorProc, tmp_path: Path) -> None:
    a = enroll_cli(collector.grpc, collector.db, tmp_path / "a")
    auth = (("authorization", f"Device {a['device_secret']}"),)
    revoked = cli("fleetpulse-collector", "devices", "revoke", a["device_id"], "--db", collector.db)
    assert revoked.returncode == 0, revoked.stderr
    listed = cli("fleetpulse-collector", "devices", "--db", collector.db).stdout
    assert "(revoked)" in listed
    code = None
    with grpc.insecure_channel(collector.grpc) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        deadline = time.monotonic() + 10  # the credential cache lives 5 s
        while time.monotonic() < deadline:
            try:
                stub.Report(_report(a, range(1, 2)), metadata=auth, timeout=10)
            except grpc.RpcError as err:
                code, details = err.code(), err.details()
                break
            time.sleep(0.5)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in details
    stored_before = stored(collector.db, "signins")
    with grpc.insecure_channel(collector.grpc) as channel, pytest.raises(grpc.RpcError):
        pb_grpc.TelemetryStub(channel).Report(_report(a, range(50, 52)), metadata=auth, timeout=10)
    assert stored(collector.db, "signins") == stored_before


def test_no_user_name_path_or_command_line_leaves_the_device(
    collector: CollectorProc, tmp_path: Path
) -> None:
    got = enroll(collector.grpc, _token(collector), FACTS)
    records = []
    for scenario, boot in [
        ("fast_logon", "2026-03-02T07:58:10.5"),
        ("gp_30min_logon", "2026-03-04T08:55:37.9"),
        ("first_logon", "2026-03-02T07:58:10.5"),
        ("signin_contributors", "2026-03-06T08:09:20"),
    ]:
        env = env_for(scenario, boot)
        source = SigninSource(
            env, Memory(None), got.user_hash_key, observe=_windows.signin_observations
        )
        records += source.measure(f"boot-{scenario}", at(boot))
    assert len(records) >= 3
    # a degraded boot whose culprits' events carry their files' paths
    records.append(_windows.boot_record(env_for("degraded_boot", "2026-03-06T08:00:06.0")))
    env = env_for("crash", "2026-03-02T07:58:10.5")
    for crash in _windows.crashes(env, at("2026-03-02T00:00:00")):
        records.append(AppUsageRecord(crash.at - 60, 60.0, normalise_app(crash.app), crashes=1))
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put((r.kind, record_to_bytes(r, time.time())) for r in records)
    sender = Sender(collector.grpc, got.device_id, got.device_secret)
    try:
        assert sender.send(spool, FACTS).remaining == 0
    finally:
        sender.close()
        spool.close()
    # the ingest-time counters of the instance that received the records ...
    with urllib.request.urlopen(collector.metrics_url, timeout=10) as resp:
        ingested = resp.read().lower()
    collector.stop()  # checkpoint the WAL: everything is in the database file now
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("c.db*")).lower()
    restarted = start_collector(collector.db, "--per-device-metrics", "--refresh-seconds", "0.1")
    try:  # ... and the labels a restarted one seeds from the store, and the per-device ones
        metrics = ingested + _per_device_scrape(restarted)
    finally:
        restarted.stop()
    fixtures = Path(__file__).parents[1] / "fixtures" / "windows"
    secrets = [
        b"alice",
        b"bob",
        b"carol",
        b"c:\\users",
        b"program files",
        b"appdata",
        b"explorer.exe \r",
        b"corp\\",
    ]
    source_text = b"".join(p.read_bytes() for p in fixtures.rglob("*") if p.is_file()).lower()
    for secret in secrets[:6]:
        assert secret in source_text  # the fixtures do hold them ...
    for secret in secrets:
        assert secret not in blob, secret  # ... and none reached the store
        assert secret not in metrics, secret
    # Sign-in contributors: script paths and arguments, Run-key command lines and the
    # temporary profile's folder are in the events; only bare names may arrive.
    contributor_secrets = [
        b"netlogon",
        b"sysvol",
        b"/quiet",
        b"//nologo",
        b"\\\\fs01",
        b"--process-start-args",
        b"-tray",
        b"/background",
        b"c:\\users\\temp",
        b"program files (x86)",
    ]
    for secret in contributor_secrets:
        assert secret in source_text, secret
        assert secret not in blob, secret
        assert secret not in metrics, secret
    assert stored(collector.db, "signins") >= 4
    assert stored(collector.db, "signin_contributors") >= 10
    assert b"teams.exe" in blob  # the executable name alone did arrive
    for name in (b"drive maps", b"map_printers.cmd", b"cagent.exe", b"temporary"):
        assert name in blob and name in metrics, name
    # Boot culprits: the events name each culprit's file by its path; only the names arrive.
    culprit_secrets = [b"\\systemroot", b"cfltr.sys", b"contoso\\update", b"c:\\windows\\old"]
    for secret in culprit_secrets:
        assert secret in source_text, secret
        assert secret not in blob, secret
        assert secret not in metrics, secret
    for name in (b"contoso update service", b"contoso filter driver"):
        assert name in blob and name in metrics, name


def _per_device_scrape(c: CollectorProc) -> bytes:
    """/metrics once the per-device contributor series are in it (lower case)."""
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(c.metrics_url, timeout=10) as resp:
            text = resp.read().lower()
        if b"fleetpulse_device_last_login_contributor_seconds{" in text:
            return text
        assert time.monotonic() < deadline, "no per-device contributor series"
        time.sleep(0.2)
