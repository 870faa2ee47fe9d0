"""/metrics over HTTPS with basic auth (bcrypt hashes), as Prometheus exporters serve it."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_tls import make_ca, make_leaf
from tests.procs import start_collector


def _get(url: str, ca: Path, user: str | None = None, password: str = "") -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_metrics_need_tls_and_the_right_password(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca", "metrics CA")
    make_leaf(tmp_path / "server", "collector", ca, server=True)
    users = tmp_path / "users"
    users.write_text(
        "# scrapers\nprometheus:"
        + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
        + "\n"
    )
    c = start_collector(
        f"sqlite:///{tmp_path / 'c.db'}",
        "--metrics-tls-cert",
        str(tmp_path / "server.pem"),
        "--metrics-tls-key",
        str(tmp_path / "server.key"),
        "--metrics-auth",
        str(users),
    )
    try:
        assert c.metrics_url.startswith("https://")
        cafile = tmp_path / "ca.pem"
        assert _get(c.metrics_url, cafile)[0] == 401
        assert _get(c.metrics_url, cafile, "prometheus", "wrong")[0] == 401
        assert _get(c.metrics_url, cafile, "nobody", "s3cret")[0] == 401
        for _ in range(2):  # the second time from the proven-credentials cache
            status, body = _get(c.metrics_url, cafile, "prometheus", "s3cret")
            assert status == 200
            names = {f.name for f in text_string_to_metric_families(body)}
            assert "fleetpulse_ingest_records" in names
        with pytest.raises(OSError):  # reset or refused: no plaintext answer
            urllib.request.urlopen(c.metrics_url.replace("https", "http"), timeout=5)
    finally:
        c.stop()
