"""Helpers that run the real commands as separate processes on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

BIN = Path(sys.executable).parent


def cli(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class CollectorProc:
    proc: subprocess.Popen[str]
    db: str
    grpc: str
    metrics_url: str

    def stop(self, sig: str = "TERM") -> int:
        if self.proc.poll() is None:
            if sig == "KILL":
                self.proc.kill()
            else:
                self.proc.terminate()
        code = self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def start_collector(
    db: str, *extra: str, listen: str = "127.0.0.1:0", log: Path | None = None
) -> CollectorProc:
    """Starts ``fleetpulse-collector serve``; its log goes to ``log`` (default: discarded)."""
    with open(log or os.devnull, "a") as err:
        proc = subprocess.Popen(
            [
                str(BIN / "fleetpulse-collector"),
                "serve",
                "--db",
                db,
                "--listen",
                listen,
                "--metrics-listen",
                "127.0.0.1:0",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    grpc = metrics = ""
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline and not (grpc and metrics):
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=10)
            proc.stdout.close()
            raise RuntimeError(f"collector exited early with {proc.returncode}")
        if m := re.match(r"gRPC\s+(\S+)", line):
            grpc = m.group(1)
        if m := re.match(r"metrics\s+(\S+)", line):
            metrics = m.group(1)
    return CollectorProc(proc, db, grpc, metrics)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parses /metrics with prometheus-client's parser into {(sample, labels): value}."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode("utf-8")
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of samples named ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def simulate(grpc: str, tokens: list[str], devices: int, days: int, seed: int, *extra: str) -> Any:
    """Runs ``fleetpulse-agent simulate`` against the collector at ``grpc``; returns its
    truth (decoded JSON) once every record was delivered."""
    run = cli(
        "fleetpulse-agent",
        "simulate",
        "--collector",
        grpc,
        *[arg for token in tokens for arg in ("--token", token)],
        "--devices",
        str(devices),
        "--days",
        str(days),
        "--seed",
        str(seed),
        *extra,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    truth = json.loads(run.stdout)
    assert truth["unsent"] == 0 and truth["acked"] == truth["records"], truth
    return truth
