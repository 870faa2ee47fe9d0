"""Fault-injection tests: real collector and agent processes on loopback, killed, starved
and cut off, each checked by counting that every record is stored exactly once.

Shared helpers live here.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import psycopg

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.spool import Spool
from fleetpulse.sim.simulate import SimulatedFleet
from fleetpulse.v1 import telemetry_pb2 as pb

#: Store tables of the four kinds a spooled record can land in.
TABLES = {
    "boot": "SELECT device_id, seq FROM boots",
    "signin": "SELECT device_id, seq FROM signins",
    "signin_end": "SELECT device_id, seq FROM signin_ends",
    "app_usage": "SELECT device_id, seq FROM app_usage",
    "signin_live": "SELECT device_id, last_seq FROM signins_in_progress",
}

Pairs = dict[str, list[tuple[str, int]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_channel(target: str) -> grpc.Channel:
    """A plaintext loopback channel that reconnects within a fraction of a second after the
    server comes back (the default backoff grows to minutes), with no hidden retries."""
    return grpc.insecure_channel(
        target,
        options=[
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 300),
            ("grpc.enable_retries", 0),
        ],
    )


def table_of(payload: bytes) -> str:
    """The store table a spooled record belongs in (health is kept per device, not listed)."""
    rec = pb.Record.FromString(payload)
    body = str(rec.WhichOneof("body"))
    if body == "signin" and rec.signin.state == pb.SIGNIN_STATE_IN_PROGRESS:
        return "signin_live"
    return body


def spooled(device_id: str, spool: Spool) -> dict[str, set[tuple[str, int]]]:
    """Every record waiting in ``spool``, as (device_id, seq) per store table."""
    out: dict[str, set[tuple[str, int]]] = {t: set() for t in (*TABLES, "health")}
    for seq, payload in spool.peek(limit=10**7, max_bytes=10**12):
        out[table_of(payload)].add((device_id, seq))
    return out


def stored_sqlite(path: str) -> Pairs:
    """(device_id, seq) of every stored record per table, read straight from the file."""
    with sqlite3.connect(path.removeprefix("sqlite:///")) as conn:
        return {t: [(str(d), int(s)) for d, s in conn.execute(sql)] for t, sql in TABLES.items()}


def stored_pg(conn: psycopg.Connection[Any]) -> Pairs:
    """``stored_sqlite`` read on a PostgreSQL connection (what its transaction sees)."""
    return {t: [(str(d), int(s)) for d, s in conn.execute(sql)] for t, sql in TABLES.items()}


def stored_in(url: str) -> Pairs:
    """``stored_sqlite`` of a SQLite or PostgreSQL URL (read with a connection of its own)."""
    if url.startswith("sqlite:///"):
        return stored_sqlite(url)
    with psycopg.connect(url) as conn:
        return stored_pg(conn)


def check_exactly_once(expected: dict[str, set[tuple[str, int]]], stored: Pairs) -> None:
    """Each table holds exactly the expected (device_id, seq) pairs, none twice, and per
    device the stored seqs are an unbroken run (no gap against what the spool assigned)."""
    by_device: dict[str, list[int]] = {}
    for table, got in stored.items():
        dup = [p for p, n in Counter(got).items() if n > 1]
        assert not dup, f"{table}: {len(dup)} (device_id, seq) stored twice, e.g. {dup[:3]}"
        missing = expected.get(table, set()) - set(got)
        extra = set(got) - expected.get(table, set())
        assert not missing, f"{table}: {len(missing)} record(s) lost, e.g. {sorted(missing)[:3]}"
        assert not extra, f"{table}: {len(extra)} record(s) never generated: {sorted(extra)[:3]}"
        for d, s in got:
            by_device.setdefault(d, []).append(s)
    want: dict[str, list[int]] = {}
    for table, pairs in expected.items():
        if table in stored:
            for d, s in pairs:
                want.setdefault(d, []).append(s)
    assert sorted(by_device) == sorted(want)
    for device, seqs in by_device.items():
        assert sorted(seqs) == sorted(want[device]), device


def merge(
    into: dict[str, set[tuple[str, int]]], more: Iterable[tuple[str, set[tuple[str, int]]]]
) -> None:
    for table, pairs in more:
        into.setdefault(table, set()).update(pairs)


def connect(
    fleet: SimulatedFleet,
    target: str,
    tokens: list[str],
    channel: grpc.Channel,
    batch: int,
    deadline: float,
) -> None:
    """Enrolls every device of ``fleet`` (token by device index, round robin) and gives it
    the agent's real Sender over ``channel``."""
    for dev in fleet.devices:
        got = enroll(target, tokens[dev.index % len(tokens)], dev.facts)
        dev.device_id, dev.site, dev.key = got.device_id, got.site, got.user_hash_key
        dev.sender = Sender(
            target,
            dev.device_id,
            got.device_secret,
            batch_records=batch,
            deadline=deadline,
            channel=channel,
        )


def kill_between(
    times: int, threads: list[threading.Thread], ready: Callable[[], bool], kill: Callable[[], None]
) -> int:
    """Calls ``kill`` whenever ``ready()`` (e.g. enough acks since the last kill), up to
    ``times`` times, while ``threads`` (the fleet's senders) run; at most 120 s. Returns the
    kills done (fewer if the fleet drained first)."""
    kills = 0
    deadline = time.monotonic() + 120
    while kills < times and time.monotonic() < deadline:
        if not ready():
            if not any(t.is_alive() for t in threads):
                break
            time.sleep(0.005)
            continue
        kill()
        kills += 1
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    return kills
