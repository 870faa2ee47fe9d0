"""Scale-out: two collector processes on one PostgreSQL, a simulated fleet whose devices
switch collectors mid-way and resend acknowledged batches to the other one.

What must hold (PRODUCT.md §4 and §5): every generated record is stored exactly once, with
no duplicate and no gap per device; counters and histograms summed over both instances
equal the fleet's totals, resends show as duplicates and nowhere else; fleet-state gauges
are read from the shared database, so both instances show the same values (aggregate them
with max, not sum).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from fleetpulse.agent.sender import Sender, enroll
from fleetpulse.agent.transport import open_channel
from fleetpulse.contract import serde
from fleetpulse.sim.simulate import SimDevice, SimulatedFleet
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc
from tests.procs import CollectorProc, cli, scrape, start_collector, value

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

DEVICES = 24
DAYS = 3
BATCH = 4
SITES = ("north", "south")
KINDS = ("boot", "signin", "app_usage")
FLEET_STATE = (
    "fleetpulse_devices",
    "fleetpulse_devices_expected",
    "fleetpulse_devices_unused",
    "fleetpulse_logins_in_progress",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def collectors(pg_url: str) -> Iterator[tuple[CollectorProc, CollectorProc]]:
    """Two collectors started at the same time on one fresh schema (both migrate it)."""
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(start_collector, pg_url, "--refresh-seconds", "0.3") for _ in range(2)
        ]
    started: list[CollectorProc] = []
    errors: list[BaseException] = []
    for f in futures:
        try:
            started.append(f.result())
        except Exception as exc:  # stop whichever one did start before failing
            errors.append(exc)
    try:
        if errors:
            raise errors[0]
        yield started[0], started[1]
    finally:
        for c in started:
            c.stop()


def _kind(payload: bytes) -> str:
    """The store table a spooled record belongs in."""
    rec = pb.Record.FromString(payload)
    body = rec.WhichOneof("body")
    if body == "signin" and rec.signin.state == pb.SIGNIN_STATE_IN_PROGRESS:
        return "signin_live"
    return str(body)


def _state(samples: Samples) -> Samples:
    """The fleet-state gauges that do not depend on the moment of the refresh."""
    return {k: v for k, v in samples.items() if k[0] in FLEET_STATE}


def _wait_same_fleet_state(
    urls: list[str], devices: int, live: int, timeout: float = 15.0
) -> list[Samples]:
    """Scrapes until both instances' refreshes have seen every device reporting and every
    live sign-in, and their fleet-state gauges agree; returns the last scrapes."""
    end = time.monotonic() + timeout
    while True:
        scraped = [scrape(u) for u in urls]
        states = [_state(s) for s in scraped]
        settled = all(
            value(s, "fleetpulse_devices", state="reporting") == devices
            and value(s, "fleetpulse_logins_in_progress") == live
            for s in scraped
        )
        if (settled and states[0] == states[1]) or time.monotonic() > end:
            return scraped
        time.sleep(0.1)


def test_two_collectors_one_postgres_count_everything_once(
    collectors: tuple[CollectorProc, CollectorProc], pg_url: str
) -> None:
    a, b = collectors
    other = {a.grpc: b.grpc, b.grpc: a.grpc}
    tokens = []
    for site in SITES:
        made = cli("fleetpulse-collector", "token", "create", "--site", site, "--db", pg_url)
        assert made.returncode == 0, made.stderr
        tokens.append(made.stdout.strip())

    channels = {t: open_channel(t) for t in (a.grpc, b.grpc)}
    stubs = {t: pb_grpc.TelemetryStub(ch) for t, ch in channels.items()}
    fleet = SimulatedFleet(a.grpc, tokens, DEVICES, seed=11, batch_records=BATCH)
    try:
        # Enroll like SimulatedFleet.enroll, but half at each collector, keeping the secret.
        secrets: dict[str, str] = {}
        first: dict[str, str] = {}
        for dev in fleet.devices:
            at = a.grpc if dev.index % 2 == 0 else b.grpc
            got = enroll(at, tokens[dev.index % len(tokens)], dev.facts)
            dev.device_id, dev.site, dev.key = got.device_id, got.site, got.user_hash_key
            secrets[dev.device_id] = got.device_secret
            first[dev.device_id] = at
        assert len(secrets) == DEVICES

        fleet.history(DAYS)
        fleet.live_step(time.time(), start_probability=0.5)  # some sign-ins in progress now

        # What was generated, per table and device, straight from the spools.
        expected: dict[str, set[tuple[str, int]]] = {
            k: set() for k in ("boot", "signin", "app_usage", "signin_live")
        }
        for dev in fleet.devices:
            for seq, payload in dev.spool.peek(limit=10**6, max_bytes=10**9):
                expected[_kind(payload)].add((dev.device_id, seq))
        live = len(expected["signin_live"])
        assert 0 < live < DEVICES
        assert len(expected["boot"]) == fleet.truth.by_kind["boot"] == DEVICES * DAYS
        assert len(expected["signin"]) == len(fleet.truth.signins) == DEVICES * DAYS
        assert len(expected["signin"]) + live == fleet.truth.by_kind["signin"]
        assert len(expected["app_usage"]) == fleet.truth.by_kind["app_usage"]

        resent = Counter[str]()  # records sent again after a collector had stored them

        def report(target: str, dev: SimDevice, batch: list[tuple[int, bytes]]) -> tuple[int, int]:
            """Sends a batch as the device's agent would, without touching its spool;
            returns the collector's (accepted, duplicates)."""
            req = serde.report_request(dev.device_id, dev.facts, batch, time.time())
            auth = (("authorization", f"Device {secrets[dev.device_id]}"),)
            resp = stubs[target].Report(req, metadata=auth, timeout=10)
            return resp.accepted, resp.duplicates

        def resend(target: str, dev: SimDevice, batch: list[tuple[int, bytes]]) -> None:
            assert report(target, dev, batch) == (0, len(batch)), (target, dev.index)
            for _, payload in batch:
                resent[_kind(payload).replace("signin_live", "signin")] += 1

        def sender(target: str, dev: SimDevice) -> Sender:
            return Sender(
                target,
                dev.device_id,
                secrets[dev.device_id],
                batch_records=BATCH,
                channel=channels[target],
            )

        # 1. every device sends 1-3 batches to its first collector through the real sender ...
        def phase_one(dev: SimDevice) -> list[tuple[int, bytes]]:
            head = dev.spool.peek(limit=BATCH)
            batches = 1 + dev.index % 3
            res = sender(first[dev.device_id], dev).send(dev.spool, dev.facts, max_batches=batches)
            assert res.ok, res.error
            assert (res.acked, res.duplicates) == (batches * BATCH, 0), (dev.index, res)
            return head

        with ThreadPoolExecutor(4) as pool:
            heads = list(pool.map(phase_one, fleet.devices))

        # ... and half of them resend their first, already acknowledged, batch to the other
        # collector (the ack was lost and the agent failed over).
        for dev, head in zip(fleet.devices, heads, strict=True):
            if dev.index % 2 == 0:
                resend(other[first[dev.device_id]], dev, head)

        # 2. a third send their next batch to both collectors at the same time: exactly one
        # of the two may store each record. The batch stays in the spool, so the sender's
        # next pass delivers it a third time.
        with ThreadPoolExecutor(2) as pool:
            for dev in fleet.devices:
                if dev.index % 3 == 0:
                    batch = dev.spool.peek(limit=BATCH)
                    assert len(batch) == BATCH
                    both = [pool.submit(report, t, dev, batch) for t in (a.grpc, b.grpc)]
                    answers = [f.result(timeout=20) for f in both]
                    assert sum(acc for acc, _ in answers) == BATCH, (dev.index, answers)
                    assert sum(dup for _, dup in answers) == BATCH, (dev.index, answers)
                    for _, payload in batch * 2:  # the loser's copy, and the sender's below
                        resent[_kind(payload).replace("signin_live", "signin")] += 1

        # 3. every device switches to its other collector and sends the rest of its spool
        # through the real sender; a quarter then resend that first batch to the first one.
        phase_two_heads: dict[str, list[tuple[int, bytes]]] = {}
        remaining = 0
        for dev in fleet.devices:
            dev.sender = sender(other[first[dev.device_id]], dev)
            phase_two_heads[dev.device_id] = dev.spool.peek(limit=BATCH)
            remaining += dev.spool.stats().records
        acked, unsent = fleet.send(workers=4)
        assert (acked, unsent) == (remaining, 0)
        for dev in fleet.devices:
            if dev.index % 4 == 1:
                resend(first[dev.device_id], dev, phase_two_heads[dev.device_id])
    finally:
        fleet.close()
        for ch in channels.values():
            ch.close()

    generated = {k: len(expected[k]) for k in KINDS}
    generated["signin"] += live
    total_generated = sum(generated.values())
    assert total_generated == fleet.truth.records
    assert sum(resent.values()) > 0

    # The store: exactly the generated (device_id, seq) pairs per table, each once.
    with psycopg.connect(pg_url, connect_timeout=10) as conn:

        def rows(sql: str) -> list[tuple[str, int]]:
            return [(str(d), int(s)) for d, s in conn.execute(sql).fetchall()]

        stored = {
            "boot": rows("SELECT device_id, seq FROM boots"),
            "signin": rows("SELECT device_id, seq FROM signins"),
            "app_usage": rows("SELECT device_id, seq FROM app_usage"),
            "signin_live": rows("SELECT device_id, last_seq FROM signins_in_progress"),
        }
        totals = sorted(
            float(t)
            for (t,) in conn.execute(
                "SELECT total_seconds FROM signins WHERE total_seconds IS NOT NULL"
            ).fetchall()
        )
        last_seen = conn.execute(
            "SELECT COUNT(*) FROM devices WHERE last_seen IS NOT NULL"
        ).fetchone()
    for table, got in stored.items():
        assert len(got) == len(set(got)), f"{table}: a (device_id, seq) stored twice"
        missing = expected[table] - set(got)
        extra = set(got) - expected[table]
        assert not missing and not extra, (
            f"{table}: {len(missing)} generated record(s) missing, {len(extra)} not generated"
        )
        per_device = Counter(d for d, _ in got)
        assert per_device == Counter(d for d, _ in expected[table]), table
    # No gaps: per device, the stored seqs of all tables are the spool's unbroken run.
    by_device: dict[str, list[int]] = {}
    for got in stored.values():
        for d, seq in got:
            by_device.setdefault(d, []).append(seq)
    assert sorted(by_device) == sorted(secrets)
    for seqs in by_device.values():
        seqs.sort()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len(seqs) in (DAYS * 6, DAYS * 6 + 1)  # a boot, a sign-in, 4 apps a day (+live)
    assert len(stored["boot"]) == fleet.truth.by_kind["boot"]
    assert len(stored["signin"]) == len(fleet.truth.signins)
    assert len(stored["app_usage"]) == fleet.truth.by_kind["app_usage"]
    assert totals == pytest.approx(sorted(round(t, 3) for *_, t in fleet.truth.signins))
    assert last_seen is not None and last_seen[0] == DEVICES

    metrics = _wait_same_fleet_state([a.metrics_url, b.metrics_url], DEVICES, live)
    sa, sb = metrics

    # Counters and histograms: per instance, summed across instances.
    for kind in KINDS:
        on_a = value(sa, "fleetpulse_ingest_records_total", kind=kind, result="accepted")
        on_b = value(sb, "fleetpulse_ingest_records_total", kind=kind, result="accepted")
        assert on_a > 0 and on_b > 0, f"{kind}: one collector received nothing ({on_a}, {on_b})"
        assert on_a + on_b == generated[kind], kind
        dup = sum(
            value(s, "fleetpulse_ingest_records_total", kind=kind, result="duplicate")
            for s in metrics
        )
        assert dup == resent[kind], kind
    for result in ("accepted", "duplicate", "rejected"):
        assert (
            sum(
                value(s, "fleetpulse_ingest_records_total", kind="health", result=result)
                for s in metrics
            )
            == 0
        )
    assert sum(value(s, "fleetpulse_ingest_records_total", result="rejected") for s in metrics) == 0
    assert sum(
        value(s, "fleetpulse_ingest_records_total", result="duplicate") for s in metrics
    ) == sum(resent.values())

    logins = sum(value(s, "fleetpulse_login_duration_seconds_count") for s in metrics)
    assert logins == len(fleet.truth.signins)  # complete, with a known total
    for site in SITES:
        assert sum(
            value(s, "fleetpulse_login_duration_seconds_count", site=site) for s in metrics
        ) == sum(1 for _, st, *_ in fleet.truth.signins if st == site)
    login_seconds = sum(value(s, "fleetpulse_login_duration_seconds_sum") for s in metrics)
    assert login_seconds == pytest.approx(sum(round(t, 3) for *_, t in fleet.truth.signins))
    boots = sum(value(s, "fleetpulse_boot_duration_seconds_count") for s in metrics)
    assert boots == fleet.truth.by_kind["boot"]

    # Fleet-state gauges: the same on both instances; max across them is the fleet.
    assert _state(sa) == _state(sb)
    for site in SITES:  # time-dependent: each instance computes it at its own refresh
        longest = [
            value(s, "fleetpulse_login_in_progress_longest_seconds", site=site) for s in metrics
        ]
        assert abs(longest[0] - longest[1]) <= 5.0, longest
    per_instance = [value(s, "fleetpulse_devices") for s in metrics]
    assert max(per_instance) == DEVICES
    assert per_instance[0] == per_instance[1]
    assert sum(per_instance) == 2 * DEVICES  # which is why summing is the wrong aggregation
    for site in SITES:
        enrolled = sum(1 for d in fleet.devices if d.site == site)
        assert value(sa, "fleetpulse_devices", site=site, state="reporting") == enrolled
    assert value(sa, "fleetpulse_logins_in_progress") == live
