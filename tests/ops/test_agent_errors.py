"""The agent's enrolment and ``once`` failures an operator hits first, each one line naming
the cause and the fix: a revoked or unknown device, a TLS collector without ``--ca-cert``, a
``--ca-cert`` that is not PEM, an untrusted certificate. Real collector processes on port 0
with certificates made in the test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tls import make_ca, make_leaf
from tests.procs import CollectorProc, cli, start_collector


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr  # no gRPC core log lines either
    return lines[0]


def _token(db: str) -> str:
    return cli("fleetpulse-collector", "token", "create", "--site", "hq", "--db", db).stdout.strip()


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'plain.db'}")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d / "ca", "fleet CA")
    other = make_ca(d / "other-ca", "someone else")
    make_leaf(d / "server", "collector", ca, server=True)
    del other
    (d / "not-pem.pem").write_text("this is not a certificate\n")
    (d / "ca.der").write_bytes(b"0\x82\x01\x00" + b"\x00" * 64)
    return d


@pytest.fixture
def tls(tmp_path: Path, pki: Path) -> Iterator[CollectorProc]:
    c = start_collector(
        f"sqlite:///{tmp_path / 'tls.db'}",
        "--tls-cert",
        str(pki / "server.pem"),
        "--tls-key",
        str(pki / "server.key"),
    )
    yield c
    c.stop()


def _enroll(c: CollectorProc, state: Path, *extra: str) -> tuple[int, str]:
    done = cli(
        "fleetpulse-agent",
        "enroll",
        "--collector",
        c.grpc,
        "--token",
        _token(c.db),
        "--state-dir",
        str(state),
        *extra,
    )
    return done.returncode, done.stderr


def test_once_on_a_revoked_device_is_an_error(plain: CollectorProc, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    code, err = _enroll(plain, state)
    assert code == 0, err
    first = cli("fleetpulse-agent", "once", "--state-dir", str(state))
    assert first.returncode == 0, first.stderr
    device_id = json.loads((state / "credentials.json").read_text())["device_id"]
    revoked = cli("fleetpulse-collector", "devices", "revoke", device_id, "--db", plain.db)
    assert revoked.returncode == 0, revoked.stderr
    # the collector caches a credential check for 5 s: revocation takes effect within that
    deadline = time.monotonic() + 20
    done = cli("fleetpulse-agent", "once", "--state-dir", str(state), timeout=120)
    while done.returncode == 0 and time.monotonic() < deadline:
        time.sleep(1)
        done = cli("fleetpulse-agent", "once", "--state-dir", str(state), timeout=120)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith("fleetpulse-agent: error: the collector refused")
    assert "revoked" in line and "re-enrol with a new token" in line


def test_once_on_a_device_the_collector_does_not_know_is_an_error(
    plain: CollectorProc, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    assert _enroll(plain, state)[0] == 0
    # the same credential against a collector with a fresh database (replaced, or another)
    other = start_collector(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        creds = json.loads((state / "credentials.json").read_text())
        creds["collector"] = other.grpc
        (state / "credentials.json").write_text(json.dumps(creds))
        done = cli("fleetpulse-agent", "once", "--state-dir", str(state), timeout=120)
    finally:
        other.stop()
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "UNAUTHENTICATED" in line and "re-enrol with a new token" in line


def test_an_unreachable_collector_stays_a_warning(plain: CollectorProc, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    assert _enroll(plain, state)[0] == 0
    plain.stop()
    done = cli("fleetpulse-agent", "once", "--state-dir", str(state), timeout=120)
    assert done.returncode == 0
    assert "warning: collector unreachable" in done.stderr


def test_tls_collector_without_ca_cert(tls: CollectorProc, tmp_path: Path) -> None:
    # loopback without --ca-cert: the agent speaks plaintext, the collector TLS
    code, err = _enroll(tls, tmp_path / "agent")
    assert code == 1
    line = _one_line(err)
    assert "requires TLS" in line and "--ca-cert FILE" in line
    assert "Socket closed" not in line and "UNAVAILABLE" not in line


@pytest.mark.parametrize("name", ["not-pem.pem", "ca.der"])
def test_ca_cert_that_is_not_pem(tls: CollectorProc, tmp_path: Path, pki: Path, name: str) -> None:
    code, err = _enroll(tls, tmp_path / "agent", "--ca-cert", str(pki / name))
    assert code == 1
    line = _one_line(err)
    assert f"--ca-cert {pki / name} is not a PEM certificate" in line
    assert "openssl x509 -inform der" in line
    assert not (tmp_path / "agent" / "credentials.json").exists()


def test_ca_cert_of_another_ca(tls: CollectorProc, tmp_path: Path, pki: Path) -> None:
    code, err = _enroll(tls, tmp_path / "agent", "--ca-cert", str(pki / "other-ca.pem"))
    assert code == 1
    line = _one_line(err)
    assert f"not signed by --ca-cert {pki / 'other-ca.pem'}" in line
    assert "SSL_ERROR" not in line


def test_the_right_ca_cert_enrolls(tls: CollectorProc, tmp_path: Path, pki: Path) -> None:
    code, err = _enroll(tls, tmp_path / "agent", "--ca-cert", str(pki / "ca.pem"))
    assert code == 0, err
