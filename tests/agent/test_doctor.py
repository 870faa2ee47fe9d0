"""doctor's checks against real collectors (plaintext and TLS), with the boundaries that
cannot be broken for real here (DNS, the clock) injected."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from fleetpulse.agent.config import Credentials
from fleetpulse.agent.doctor import Check, Probes, diagnose, foreground_detail, ping, report
from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform.env import Env
from tests.e2e.test_pipeline import enroll, free_port
from tests.e2e.test_tls import make_ca, make_leaf
from tests.procs import CollectorProc, cli, start_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path_factory.mktemp('doctor') / 'c.db'}")
    yield c
    c.stop()


@pytest.fixture
def state(collector: CollectorProc, tmp_path: Path) -> Path:
    sd = tmp_path / "agent"
    enroll(collector.grpc, collector.db, sd)
    return sd


def lines(checks: list[Check]) -> list[str]:
    return [c.line() for c in checks]


def by_name(checks: list[Check], name: str) -> Check:
    found = [c for c in checks if c.name == name]
    assert len(found) == 1, lines(checks)
    return found[0]


def test_every_check_ok_against_a_live_collector(state: Path, collector: CollectorProc) -> None:
    checks = diagnose(state)
    assert all(c.ok for c in checks), lines(checks)
    names = [c.name for c in checks]
    assert names[:7] == ["config", "state-dir", "credentials", "dns", "tcp", "tls", "credential"]
    assert "clock" in names and "source boot" in names and "source facts" in names
    assert by_name(checks, "tls").detail == "not used (plaintext to a loopback collector)"
    assert by_name(checks, "credentials").detail.endswith("mode 0600")
    out: list[str] = []
    assert report(checks, out.append) == 0
    assert out[0].startswith("OK config: ")


def test_refused_tcp_is_one_exact_fail_line_and_stops_there(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "agent"
    Credentials("dev", "fpd_x", f"127.0.0.1:{port}", "hq", "00").save(state)
    checks = diagnose(state)
    assert lines(checks)[3:5] == [
        "OK dns: 127.0.0.1 is an address (no lookup)",
        f"FAIL tcp: cannot connect to 127.0.0.1:{port} (Connection refused) — fix: start the "
        "collector or check the address/firewall",
    ]
    assert "credential" not in [c.name for c in checks]
    assert report(checks, lambda _: None) == 1


def test_unresolvable_name(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    Credentials("dev", "fpd_x", "collector.example.invalid:50051", "hq", "00").save(state)

    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    checks = diagnose(state, probes=Probes(resolve=no_dns))
    assert by_name(checks, "dns").line() == (
        "FAIL dns: cannot resolve collector.example.invalid (Name or service not known) — fix: "
        "check the collector's name and this machine's DNS servers"
    )


def test_loose_permissions_and_bad_config_each_fail_with_their_fix(state: Path) -> None:
    os.chmod(state, 0o777)
    os.chmod(state / "credentials.json", 0o644)
    (state / "ready").mkdir(mode=0o777)
    os.chmod(state / "ready", 0o777)
    (state / "config.toml").write_text("interval_seconds = 'often'\n")
    checks = diagnose(state)
    assert by_name(checks, "state-dir").line() == (
        f"FAIL state-dir: {state} is world-writable (mode 0777) — fix: chmod 755 {state}"
    )
    assert by_name(checks, "ready-dir").line() == (
        f"FAIL ready-dir: {state / 'ready'} is world-writable without the sticky bit "
        f"(mode 0777) — fix: chmod 1777 {state / 'ready'}"
    )
    assert by_name(checks, "credentials").line() == (
        f"FAIL credentials: {state / 'credentials.json'} is readable by others (mode 0644) — "
        f"fix: chmod 600 {state / 'credentials.json'}"
    )
    config = by_name(checks, "config")
    assert not config.ok and "interval_seconds must be a number" in config.detail


def test_not_enrolled_says_how_to_enroll(tmp_path: Path) -> None:
    (tmp_path / "agent").mkdir()
    checks = diagnose(tmp_path / "agent")
    cred = by_name(checks, "credentials")
    assert not cred.ok and "not enrolled" in cred.detail
    assert cred.fix == "run 'fleetpulse-agent install --collector HOST:PORT --token-file FILE'"
    assert "tcp" not in [c.name for c in checks]


def test_clock_skew_beyond_a_minute_fails(state: Path) -> None:
    checks = diagnose(state, probes=Probes(clock=lambda: time.time() + 300))
    clock = by_name(checks, "clock")
    assert not clock.ok
    assert clock.detail.startswith("30") and clock.detail.endswith("s ahead of the collector")
    assert abs(float(clock.detail.split()[0]) - 300) < 5
    assert "time synchronisation" in clock.fix
    near = by_name(diagnose(state, probes=Probes(clock=lambda: time.time() - 20)), "clock")
    assert near.ok and near.detail.endswith("behind the collector")


def test_revoked_credential_is_refused_with_the_re_enroll_fix(
    state: Path, collector: CollectorProc
) -> None:
    creds = Credentials.load(state)
    done = cli("fleetpulse-collector", "devices", "revoke", creds.device_id, "--db", collector.db)
    assert done.returncode == 0, done.stderr
    end = time.monotonic() + 15  # the collector caches credentials for a few seconds
    while True:
        cred = by_name(diagnose(state), "credential")
        if not cred.ok or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert not cred.ok and "UNAUTHENTICATED" in cred.detail
    assert "run install again with a new token" in cred.fix


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d / "ca", "fleet CA")
    make_ca(d / "other", "another CA")
    make_leaf(d / "server", "collector", ca, server=True)
    return d


def test_tls_handshake_ok_with_the_fleet_ca_and_fails_with_another(
    pki: Path, tmp_path: Path
) -> None:
    c = start_collector(
        f"sqlite:///{tmp_path / 'c.db'}",
        "--tls-cert",
        str(pki / "server.pem"),
        "--tls-key",
        str(pki / "server.key"),
    )
    try:
        tok = cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", c.db)
        state = tmp_path / "agent"
        done = cli(
            "fleetpulse-agent",
            "enroll",
            "--collector",
            c.grpc,
            "--token",
            tok.stdout.strip(),
            "--ca-cert",
            str(pki / "ca.pem"),
            "--state-dir",
            str(state),
        )
        assert done.returncode == 0, done.stderr
        checks = diagnose(state)
        assert all(c.ok for c in checks), lines(checks)
        assert by_name(checks, "tls").detail.startswith("TLSv1.3, certificate CN=collector")
        creds = Credentials.load(state)
        replace(creds, ca_cert=str(pki / "other.pem")).save(state)
        tls = by_name(diagnose(state), "tls")
        assert not tls.ok and f"handshake with {c.grpc} failed" in tls.detail
        assert "certificate verify failed" in tls.detail
        assert "credential" not in [x.name for x in diagnose(state)]
    finally:
        c.stop()


def test_sources_report_unknown_where_the_machine_gives_nothing(tmp_path: Path) -> None:
    def nothing(argv: Sequence[str]) -> str:
        raise SourceUnavailable(f"{argv[0]}: not here")

    def unreadable(path: str) -> bytes:
        raise FileNotFoundError(path)

    env = Env(run=nothing, read_bytes=unreadable, state_dir=str(tmp_path), root=str(tmp_path))
    (tmp_path / "agent").mkdir()
    checks = diagnose(tmp_path / "agent", probes=Probes(env=lambda _sd: env))
    assert by_name(checks, "source boot").detail.endswith("duration unknown on this machine")
    assert by_name(checks, "source signin").detail == (
        "none seen this boot (unknown until someone signs in)"
    )
    assert by_name(checks, "source foreground").detail.startswith("unknown here")
    assert by_name(checks, "source facts").detail == (
        "linux; known: none; unknown: os_version, machine_id, hardware_id, form_factor,"
        " manufacturer, model, system_disk"
    )


def test_foreground_on_windows_names_the_helper_and_its_waiting_files(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    assert foreground_detail(False, str(tmp_path), "win32") == (
        f"from the per-user helper (task \\fleetpulse\\foreground): 0 file(s) waiting in {folder}"
    )
    folder.mkdir()
    (folder / "2-1.json").write_text("{}")
    (folder / ".2-2.json.tmp").write_text("{")
    assert foreground_detail(False, str(tmp_path), "win32").startswith(
        "from the per-user helper (task \\fleetpulse\\foreground): 1 file(s) waiting"
    )
    assert foreground_detail(True, str(tmp_path), "win32") == "available"
    assert foreground_detail(False, str(tmp_path), "linux").startswith("unknown here")


def test_ping_returns_the_collectors_time(state: Path) -> None:
    from fleetpulse.agent.sources.facts import device_facts

    before = time.time()
    pong = ping(Credentials.load(state), device_facts(Env()))
    assert before - 1 < pong.server_time < time.time() + 1
    assert 0 <= pong.round_trip < 5
