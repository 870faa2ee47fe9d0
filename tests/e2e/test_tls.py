"""TLS and mTLS with certificates made in the test: a real TLS collector, real agent processes."""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.e2e.test_pipeline import _report, stored
from tests.procs import CollectorProc, cli, start_collector


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_ca(path: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(path, key, cert)
    return key, cert


def make_leaf(
    path: Path, cn: str, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], server: bool
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    _write(path, key, builder.sign(ca[0], hashes.SHA256()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d / "ca", "fleetpulse test CA")
    rogue = make_ca(d / "rogue-ca", "someone else")
    make_leaf(d / "server", "collector", ca, server=True)
    make_leaf(d / "client", "agent", ca, server=False)
    make_leaf(d / "rogue-client", "agent", rogue, server=False)
    return d


def _collector(tmp_path: Path, pki: Path, *extra: str) -> CollectorProc:
    return start_collector(
        f"sqlite:///{tmp_path / 'c.db'}",
        "--tls-cert",
        str(pki / "server.pem"),
        "--tls-key",
        str(pki / "server.key"),
        *extra,
    )


def _enroll(c: CollectorProc, pki: Path, state: Path, *extra: str) -> tuple[int, str]:
    token = cli(
        "fleetpulse-collector", "token", "create", "--site", "hq", "--db", c.db
    ).stdout.strip()
    done = cli(
        "fleetpulse-agent",
        "enroll",
        "--collector",
        c.grpc,
        "--token",
        token,
        "--ca-cert",
        str(pki / "ca.pem"),
        "--state-dir",
        str(state),
        *extra,
    )
    return done.returncode, done.stderr


@pytest.fixture
def tls_collector(tmp_path: Path, pki: Path) -> Iterator[CollectorProc]:
    c = _collector(tmp_path, pki)
    yield c
    c.stop()


def test_agent_enrolls_and_reports_over_tls(
    tls_collector: CollectorProc, pki: Path, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    code, err = _enroll(tls_collector, pki, state)
    assert code == 0, err
    (state / "config.toml").write_text("boot_settle_seconds = 0\n")
    once = cli("fleetpulse-agent", "once", "--state-dir", str(state))
    assert once.returncode == 0 and once.stderr == "", once.stderr
    assert stored(tls_collector.db, "boots") == 1


def test_plaintext_client_to_tls_server_is_refused(
    tls_collector: CollectorProc, pki: Path, tmp_path: Path
) -> None:
    code, _ = _enroll(tls_collector, pki, tmp_path / "agent")
    assert code == 0
    creds = json.loads((tmp_path / "agent" / "credentials.json").read_text())
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    with grpc.insecure_channel(tls_collector.grpc) as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.TelemetryStub(channel).Report(_report(creds, range(1, 3)), metadata=auth, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert stored(tls_collector.db, "signins") == 0


def test_mtls_accepts_the_fleet_client_and_refuses_others(pki: Path, tmp_path: Path) -> None:
    c = _collector(tmp_path, pki, "--client-ca", str(pki / "ca.pem"))
    try:
        code, err = _enroll(
            c,
            pki,
            tmp_path / "good",
            "--client-cert",
            str(pki / "client.pem"),
            "--client-key",
            str(pki / "client.key"),
        )
        assert code == 0, err
        once = cli("fleetpulse-agent", "once", "--state-dir", str(tmp_path / "good"))
        assert once.returncode == 0 and once.stderr == "", once.stderr

        code, err = _enroll(c, pki, tmp_path / "none")
        assert code == 1 and "enrollment at" in err and "UNAVAILABLE" in err
        code, err = _enroll(
            c,
            pki,
            tmp_path / "rogue",
            "--client-cert",
            str(pki / "rogue-client.pem"),
            "--client-key",
            str(pki / "rogue-client.key"),
        )
        assert code == 1 and "UNAVAILABLE" in err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / "none" / "credentials.json").exists()
    finally:
        c.stop()
