"""/metrics with basic auth is not served in plaintext off loopback unless --insecure says
so, as plaintext gRPC already is: the password would cross the network in every scrape."""

from __future__ import annotations

import base64
import subprocess
import urllib.request
from pathlib import Path

import bcrypt

from tests.procs import BIN, cli


def _users(tmp_path: Path) -> Path:
    users = tmp_path / "users"
    users.write_text(
        "prometheus:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode() + "\n"
    )
    return users


def test_basic_auth_in_plaintext_off_loopback_is_refused(tmp_path: Path) -> None:
    done = cli(
        "fleetpulse-collector",
        "serve",
        "--db",
        f"sqlite:///{tmp_path / 'c.db'}",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "0.0.0.0:0",
        "--metrics-auth",
        str(_users(tmp_path)),
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "fleetpulse-collector: error: refusing /metrics basic auth in plaintext on "
        "non-loopback 0.0.0.0:0: give --metrics-tls-cert/--metrics-tls-key, or --insecure\n"
    )


def test_insecure_allows_it_with_a_warning(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            str(BIN / "fleetpulse-collector"),
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "0.0.0.0:0",
            "--metrics-auth",
            str(_users(tmp_path)),
            "--insecure",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        url = proc.stdout.readline().split()[1].replace("0.0.0.0", "127.0.0.1")
        request = urllib.request.Request(url)
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(b"prometheus:s3cret").decode()
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "/metrics on 0.0.0.0:0 takes basic-auth passwords in plaintext (--insecure)" in err


def test_without_auth_or_on_loopback_nothing_changes(tmp_path: Path) -> None:
    # no password to leak: plaintext /metrics off loopback is the exporter default
    proc = subprocess.Popen(
        [
            str(BIN / "fleetpulse-collector"),
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "0.0.0.0:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("gRPC")
        url = proc.stdout.readline().split()[1].replace("0.0.0.0", "127.0.0.1")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
