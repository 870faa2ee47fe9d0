"""A real Prometheus for tests: started on a free loopback port, queried over its HTTP API.

Shared by the test that every query parses (nothing scraped) and the end-to-end test that
runs every panel query against a Prometheus scraping a real collector.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS = shutil.which("prometheus")
START_TIMEOUT_S = 30
QUERY_TIMEOUT_S = 10

requires_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus is not installed (Debian package prometheus; .ci/run installs it)",
)


def one_collector(
    metrics_url: str, job: str, rule_files: list[str] | None = None
) -> dict[str, Any]:
    """A prometheus.yml (as a mapping) scraping one collector's /metrics every second as
    ``job``, evaluating ``rule_files`` every second."""
    target = urllib.parse.urlsplit(metrics_url)
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": target.path,
                "static_configs": [{"targets": [target.netloc]}],
            }
        ],
    }
    if rule_files:
        config["rule_files"] = rule_files
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, decoded JSON body) of a GET; an HTTP error status is returned, not
    raised (Prometheus explains a bad query in the body of its 400)."""
    try:
        with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def query(base: str, expr: str) -> tuple[int, dict[str, Any]]:
    """An instant query at the current time: /api/v1/query."""
    return get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@contextmanager
def run_prometheus(workdir: Path, config: Mapping[str, Any]) -> Iterator[str]:
    """Runs Prometheus with ``config`` (the prometheus.yml content as a mapping) in
    ``workdir``; yields its base URL once ready and always terminates it on exit. Its log
    is ``workdir / "prometheus.log"``."""
    assert PROMETHEUS is not None, "prometheus is not installed"
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    # JSON is YAML.
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
