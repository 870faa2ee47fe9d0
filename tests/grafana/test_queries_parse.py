"""Every dashboard query and every rule expression is valid PromQL for a real Prometheus.

A Prometheus with nothing to scrape loads the rule files and answers each query; an
empty result is fine here (tests/e2e runs the same queries against a real collector).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.grafana.dashboards import (
    DEFAULT_VARIABLES,
    iter_panel_queries,
    iter_variable_queries,
    substitute,
)
from tests.grafana.rules import rule_files, rules

PROMETHEUS = shutil.which("prometheus")
START_TIMEOUT_S = 30
QUERY_TIMEOUT_S = 10

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus is not installed (Debian package prometheus; .ci/run installs it)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


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


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prometheus on a free loopback port, with the fleetpulse rules loaded."""
    assert PROMETHEUS is not None
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    # JSON is YAML: a minimal config, nothing scraped.
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "rule_files": [str(path) for path in rule_files()],
            }
        ),
        encoding="utf-8",
    )
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
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


def query(base: str, expr: str) -> tuple[int, dict[str, Any]]:
    return get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")


PANEL_QUERIES = list(iter_panel_queries(variables=DEFAULT_VARIABLES))
RULE_EXPRS = [(r.get("alert") or r["record"], r["expr"]) for r in rules()]


def variable_selector(query_text: str) -> str:
    """label_values(selector, label) -> selector, with the variables filled in."""
    match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query_text.strip())
    assert match, f"not a label_values() query: {query_text}"
    return substitute(match.group(1), DEFAULT_VARIABLES)


@pytest.mark.parametrize(
    ("uid", "title", "expr"), PANEL_QUERIES, ids=[f"{u}:{t}" for u, t, _ in PANEL_QUERIES]
)
def test_panel_query_parses(prometheus: str, uid: str, title: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert (status, body["status"]) == (200, "success"), body.get("error")
    assert body["data"]["resultType"] in {"vector", "scalar"}


@pytest.mark.parametrize(
    ("uid", "name", "text"),
    list(iter_variable_queries()),
    ids=[f"{u}:{n}" for u, n, _ in iter_variable_queries()],
)
def test_variable_query_parses(prometheus: str, uid: str, name: str, text: str) -> None:
    status, body = query(prometheus, variable_selector(text))
    assert (status, body["status"]) == (200, "success"), body.get("error")


@pytest.mark.parametrize(("name", "expr"), RULE_EXPRS, ids=[n for n, _ in RULE_EXPRS])
def test_rule_expr_parses(prometheus: str, name: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert (status, body["status"]) == (200, "success"), body.get("error")


def test_prometheus_loaded_every_rule(prometheus: str) -> None:
    status, body = get(f"{prometheus}/api/v1/rules")
    assert status == 200
    loaded = {rule["name"] for group in body["data"]["groups"] for rule in group["rules"]}
    assert loaded == {name for name, _ in RULE_EXPRS}


def test_a_broken_query_is_reported(prometheus: str) -> None:
    """The check can fail: Prometheus rejects what it cannot parse."""
    status, body = query(prometheus, "sum by (site (rate(fleetpulse_boots_total[5m]))")
    assert status == 400
    assert body["status"] == "error" and body["errorType"] == "bad_data"
