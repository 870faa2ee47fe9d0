"""One collector per port: `serve` and `demo` on a port already in use stop with one line
and exit 1, whoever holds it (another collector, or any gRPC server with grpcio's default
SO_REUSEPORT), instead of starting silently and sharing the connections."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tests.procs import CollectorProc, cli, scrape, start_collector, value

IN_USE = (
    "address already in use (another collector? instances that share a database each "
    "take their own port)"
)


@pytest.fixture
def first(tmp_path: Path) -> Iterator[CollectorProc]:
    c = start_collector(f"sqlite:///{tmp_path / 'first.db'}")
    yield c
    assert c.stop() == 0


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_serve_on_a_port_in_use_is_refused(first: CollectorProc, tmp_path: Path) -> None:
    second = cli(
        "fleetpulse-collector",
        "serve",
        "--db",
        f"sqlite:///{tmp_path / 'second.db'}",
        "--listen",
        first.grpc,
        "--metrics-listen",
        "127.0.0.1:0",
        timeout=30,
    )
    assert second.returncode == 1
    assert _one_line(second.stderr) == (
        f"fleetpulse-collector: error: cannot listen on {first.grpc}: {IN_USE}"
    )
    assert "gRPC" not in second.stdout
    # the first one serves on, untouched
    assert (
        value(
            scrape(first.metrics_url),
            "fleetpulse_ingest_records_total",
            kind="signin",
            result="accepted",
        )
        == 0
    )


def test_demo_on_a_port_in_use_is_refused(first: CollectorProc) -> None:
    demo = cli(
        "fleetpulse-collector", "demo", "--listen", first.grpc, "--duration", "1", timeout=30
    )
    assert demo.returncode == 1
    assert _one_line(demo.stderr) == (
        f"fleetpulse-collector: error: cannot listen on {first.grpc}: {IN_USE}"
    )
    port = first.metrics_url.split("//")[1].split("/")[0]
    demo = cli(
        "fleetpulse-collector", "demo", "--metrics-listen", port, "--duration", "1", timeout=30
    )
    assert demo.returncode == 1
    assert _one_line(demo.stderr).startswith(
        f"fleetpulse-collector: error: cannot serve metrics on {port}: "
    )


def test_a_port_shared_by_grpcio_default_is_refused_too(tmp_path: Path) -> None:
    # grpcio sets SO_REUSEPORT unless told not to: two such servers both bind the port.
    other = grpc.server(ThreadPoolExecutor(max_workers=1))
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        second = cli(
            "fleetpulse-collector",
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics-listen",
            "127.0.0.1:0",
            timeout=30,
        )
    finally:
        other.stop(None)
    assert second.returncode == 1
    assert _one_line(second.stderr) == (
        f"fleetpulse-collector: error: cannot listen on 127.0.0.1:{port}: {IN_USE}"
    )
