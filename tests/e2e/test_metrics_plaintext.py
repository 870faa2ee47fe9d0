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


def _serve_args(tmp_path: Path, *extra: str) -> list[str]:
    """``serve`` on a loopback gRPC address and /metrics on every address."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    return ["serve", "--db", db, "--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0", *extra]


def _scrape_then_stop(tmp_path: Path, *extra: str, auth: bytes | None = None) -> str:
    """Starts ``serve``, scrapes its /metrics once (200 expected), stops it with SIGTERM
    (exit 0 expected) and returns its stderr."""
    proc = subprocess.Popen(
        [str(BIN / "fleetpulse-collector"), *_serve_args(tmp_path, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("gRPC")
        url = proc.stdout.readline().split()[1].replace("0.0.0.0", "127.0.0.1")
        request = urllib.request.Request(url)
        if auth is not None:
            request.add_header("Authorization", "Basic " + base64.b64encode(auth).decode())
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return err


def test_basic_auth_in_plaintext_off_loopback_is_refused(tmp_path: Path) -> None:
    users = str(_users(tmp_path))
    done = cli("fleetpulse-collector", *_serve_args(tmp_path, "--metrics-auth", users), timeout=30)
    assert done.returncode == 1
    assert done.stderr == (
        "fleetpulse-collector: error: refusing /metrics basic auth in plaintext on "
        "non-loopback 0.0.0.0:0: give --metrics-tls-cert/--metrics-tls-key, or --insecure\n"
    )


def test_insecure_allows_it_with_a_warning(tmp_path: Path) -> None:
    users = str(_users(tmp_path))
    err = _scrape_then_stop(
        tmp_path, "--metrics-auth", users, "--insecure", auth=b"prometheus:s3cret"
    )
    assert "/metrics on 0.0.0.0:0 takes basic-auth passwords in plaintext (--insecure)" in err


def test_without_auth_or_on_loopback_nothing_changes(tmp_path: Path) -> None:
    # no password to leak: plaintext /metrics off loopback is the exporter default
    _scrape_then_stop(tmp_path)
