"""The collector against arbitrary input.

(a) any bytes through the request decoder and validation raise nothing but the
collector's own errors; (b) any well-typed ReportRequest is either refused as invalid or,
once validation accepts it, stored in a real SQLite store and read back unchanged;
(c) a running collector process given arbitrary bytes on Report answers only
INVALID_ARGUMENT or UNAUTHENTICATED (or an empty OK), keeps serving and stores nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import event, given
from hypothesis import strategies as st

from fleetpulse.collector.errors import CollectorError, InvalidReport
from fleetpulse.collector.serde import report_from_bytes, report_from_proto
from fleetpulse.collector.store.base import Store, open_store
from fleetpulse.collector.validation import EARLIEST, FUTURE_SLACK, validate
from fleetpulse.contract.phases import BOOT_PHASES, SIGNIN_PHASES
from fleetpulse.v1 import telemetry_pb2 as pb
from tests.e2e.test_pipeline import enroll
from tests.faults import TABLES, stored_sqlite
from tests.fuzz import examples
from tests.procs import CollectorProc, start_collector

NOW = time.time()
#: Integers are drawn over their whole proto range: validation bounds each by the column
#: that holds it (fleetpulse.collector.validation.INTEGER_BOUNDS), so whatever passes can be stored.
INT64 = 2**63 - 1
UINT32 = 2**32 - 1
UINT64 = 2**64 - 1


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="fleetpulse")


# -- strategies ------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)  # any UTF-8
short = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=24),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),  # controls, NUL, emoji
)
wild = st.floats(allow_nan=True, allow_infinity=True)  # NaN, ±inf, -0.0, 1e308, subnormals
moment = st.one_of(
    st.floats(EARLIEST, NOW + FUTURE_SLACK - 60),  # plausible
    st.sampled_from([0.0, -1.0, EARLIEST - 1, NOW + 2 * FUTURE_SLACK]),
    wild,
)
seconds = st.one_of(st.floats(0, 86400), st.sampled_from([-1.0, 86401.0, 1e12]), wild)
u64 = st.one_of(st.integers(0, 1000), st.integers(0, INT64), st.integers(INT64 - 2, UINT64))
seq = st.one_of(st.integers(1, 50), st.integers(0, INT64), st.integers(INT64 - 2, UINT64))
fine = st.floats(0, 3600)
printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=24)


def _opt(value: Any) -> Any:
    return st.one_of(st.none(), value)


@st.composite
def phases(draw: st.DrawFn, names: tuple[str, ...], sane: bool) -> list[pb.Phase]:
    named = st.sampled_from(names) if sane else st.one_of(st.sampled_from(names), short)
    return [
        pb.Phase(name=draw(named), seconds=draw(fine if sane else seconds))
        for _ in range(draw(st.integers(0, 4)))
    ]


def _set(msg: Any, **fields: Any) -> Any:
    for name, v in fields.items():
        if v is not None:
            setattr(msg, name, v)
    return msg


@st.composite
def records(draw: st.DrawFn, sane: bool) -> pb.Record:
    """A record with every field in range (``sane``: mostly accepted, reaching the store)
    or with any value at all (mostly refused, probing the checks)."""
    when = st.floats(EARLIEST, NOW) if sane else moment
    dur = fine if sane else seconds
    name = printable if sane else short
    rec = pb.Record(seq=draw(seq), observed_at=draw(when))
    kinds = ["boot", "signin", "signin_end", "app_usage", "health"] + ([] if sane else ["none"])
    body = draw(st.sampled_from(kinds))
    if body == "boot":
        b = _set(
            rec.boot,
            boot_id=draw(name),
            boot_time=draw(when),
            total_seconds=draw(_opt(dur)),
            boot_type=draw(st.integers(0, 5)),
            degraded=draw(_opt(st.booleans())),
        )
        b.phases.extend(draw(phases(BOOT_PHASES, sane)))
        for _ in range(draw(st.integers(0, 2))):
            b.culprits.add(name=draw(name), kind=draw(short), seconds=draw(dur))
    elif body == "signin":
        s = _set(
            rec.signin,
            session_id=draw(name),
            boot_id=draw(name),
            user_hash=draw(st.one_of(short, text)),
            started_at=draw(when),
            state=draw(st.integers(0, 4)),
            total_seconds=draw(_opt(dur)),
            elapsed_seconds=draw(dur),
            first_login=draw(_opt(st.booleans())),
            after_update=draw(_opt(st.booleans())),
        )
        s.phases.extend(draw(phases(SIGNIN_PHASES, sane)))
    elif body == "signin_end":
        _set(
            rec.signin_end,
            boot_id=draw(name),
            session_id=draw(name),
            ended_at=draw(when),
            reason=draw(st.integers(0, 4)),
        )
    elif body == "app_usage":
        interval = draw(st.floats(1, 86400) if sane else seconds)
        within = st.floats(0, interval) if sane and interval >= 0 else dur
        _set(
            rec.app_usage,
            interval_start=draw(when),
            interval_seconds=interval,
            app=draw(name),
            launches=draw(st.integers(0, UINT32)),
            running_seconds=draw(within),
            foreground_seconds=draw(_opt(within)),
            cpu_seconds=draw(within),
            peak_rss_bytes=draw(_opt(u64)),
            crashes=draw(_opt(st.integers(0, UINT32))),
        )
    elif body == "health":
        h = _set(
            rec.health,
            parse_errors=draw(u64),
            spool_bytes=draw(u64),
            clock_skew_seconds=draw(_opt(fine if sane else wild)),
            rejected=draw(u64),
        )
        h.dropped.update(draw(st.dictionaries(short, u64, max_size=3)))
    return rec


@st.composite
def report_requests(draw: st.DrawFn) -> pb.ReportRequest:
    req = pb.ReportRequest(device_id=draw(st.one_of(short, text)), sent_at=draw(moment))
    _set(
        req.facts,
        hostname=draw(text),
        os=draw(short),
        os_version=draw(text),
        agent_version=draw(short),
        hardware_id=draw(short),
        machine_id=draw(short),
        cpu_count=draw(st.integers(0, UINT32)),
        memory_bytes=draw(st.integers(0, 2**64 - 1)),
        boot_time=draw(_opt(wild)),
        form_factor=draw(short),
        manufacturer=draw(text),
        model=draw(text),
        system_disk=draw(st.one_of(st.sampled_from(["", "ssd", "hdd"]), short)),
    )
    sane = draw(st.booleans())
    req.records.extend(draw(st.lists(records(sane), max_size=8)))
    if sane and draw(st.booleans()):  # usually distinct seqs, as an agent sends them
        for i, rec in enumerate(req.records):
            rec.seq = i + 1
    return req


# -- (a) bytes through decoding and validation ---------------------------------------------


def _decode_and_validate(raw: bytes) -> None:
    # The only kind of failure allowed: each maps to a precise gRPC status.
    with contextlib.suppress(CollectorError):
        validate(report_from_bytes(raw), NOW)


@examples(1000)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_collector_errors(raw: bytes) -> None:
    _decode_and_validate(raw)


@examples(600)
@given(report_requests(), st.data())
def test_mutated_reports_raise_only_collector_errors(
    req: pb.ReportRequest, data: st.DataObject
) -> None:
    """A well-formed request with bytes flipped, cut or spliced (mostly still decodable,
    unlike random bytes)."""
    raw = bytearray(req.SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "cut":
            del raw[at : at + data.draw(st.integers(1, 8))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    _decode_and_validate(bytes(raw))


# -- (b) typed requests: refused, or stored and read back ---------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    path = str(tmp_path_factory.mktemp("fuzz") / "store.db")
    s = open_store(f"sqlite:///{path}")
    s.migrate()
    yield s, path
    s.close()


def _row(path: str, sql: str, *params: Any) -> tuple[Any, ...] | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute(sql, params).fetchone()
    return tuple(row) if row is not None else None


def _counts(path: str) -> dict[str, int]:
    return {t: len(v) for t, v in stored_sqlite(path).items()}


@examples(1000)
@given(report_requests())
def test_typed_reports_are_refused_or_stored_and_read_back(
    store: tuple[Store, str], req: pb.ReportRequest
) -> None:
    s, path = store
    req.device_id = f"fuzz-{uuid.uuid4().hex}"  # each example is its own device
    try:
        report = report_from_proto(req)
        validate(report, NOW)
    except InvalidReport as err:
        assert err.problems and str(err)
        event("refused as invalid")
        return
    event(
        f"accepted by validation: {min(len(req.records), 3)}{'+' * (len(req.records) >= 3)}"
        " record(s)"
    )
    before = _counts(path)
    [outcome] = s.ingest([report], NOW)
    assert len(outcome.accepted) + outcome.duplicate_count == len(report.records)
    dev = req.device_id
    for inc in outcome.accepted:
        rec = next(r for r in req.records if r.seq == inc.seq)
        body = rec.WhichOneof("body")
        if body == "boot":
            got = _row(
                path,
                "SELECT boot_id, boot_time FROM boots WHERE device_id = ? AND seq = ?",
                dev,
                inc.seq,
            )
            assert got == (rec.boot.boot_id, rec.boot.boot_time)
        elif body == "signin" and rec.signin.state == pb.SIGNIN_STATE_COMPLETE:
            got = _row(
                path,
                "SELECT session_id, started_at, total_seconds FROM signins"
                " WHERE device_id = ? AND seq = ?",
                dev,
                inc.seq,
            )
            total = rec.signin.total_seconds if rec.signin.HasField("total_seconds") else None
            assert got == (rec.signin.session_id, rec.signin.started_at, total)
        elif body == "signin":
            # progress of one session: the row keeps the latest seq's elapsed time
            got = _row(
                path,
                "SELECT last_seq FROM signins_in_progress WHERE device_id = ?"
                " AND boot_id = ? AND session_id = ?",
                dev,
                rec.signin.boot_id,
                rec.signin.session_id,
            )
            assert got is not None and got[0] >= inc.seq
        elif body == "app_usage":
            got = _row(
                path,
                "SELECT app, cpu_seconds, peak_rss_bytes FROM app_usage"
                " WHERE device_id = ? AND seq = ?",
                dev,
                inc.seq,
            )
            rss = rec.app_usage.peak_rss_bytes if rec.app_usage.HasField("peak_rss_bytes") else None
            assert got == (rec.app_usage.app, rec.app_usage.cpu_seconds, rss)
        elif body == "signin_end":
            got = _row(
                path,
                "SELECT boot_id, session_id, ended_at, reason FROM signin_ends"
                " WHERE device_id = ? AND seq = ?",
                dev,
                inc.seq,
            )
            reason = {pb.END_REASON_SIGN_OUT: "sign_out", pb.END_REASON_DISCONNECT: "disconnect"}
            e = rec.signin_end
            assert got == (e.boot_id, e.session_id, e.ended_at, reason[e.reason])
        else:
            assert body == "health"
            got = _row(
                path, "SELECT parse_errors, spool_bytes FROM device_health WHERE device_id = ?", dev
            )
            assert got is not None
    after = _counts(path)
    assert sum(after.values()) - sum(before.values()) <= len(outcome.accepted)
    assert all(after[t] >= before[t] for t in TABLES)


# -- (c) a running collector given arbitrary bytes ----------------------------------------


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CollectorProc, dict[str, str], grpc.Channel]]:
    base = tmp_path_factory.mktemp("fuzz-server")
    db = f"sqlite:///{base / 'collector.db'}"
    # no rate limits: garbage decoding as a report of an unknown device is a failed
    # authentication, and thousands of them (FLEETPULSE_FUZZ=random) would be throttled
    collector = start_collector(
        db, "--device-rate", "0", "--auth-failure-rate", "0", log=base / "collector.log"
    )
    try:
        creds = enroll(collector.grpc, db, Path(base / "agent"))
        with grpc.insecure_channel(collector.grpc) as channel:
            yield collector, creds, channel
    finally:
        code = collector.stop()
    assert code == 0


def _field1(value: str) -> bytes:
    """Protobuf field 1 (device_id) as wire bytes: a request that authenticates, with
    whatever follows it."""
    raw = value.encode()
    return b"\x0a" + bytes([len(raw)]) + raw


@examples(250)
@given(st.binary(max_size=600), st.booleans())
def test_running_collector_answers_garbage_precisely(
    served: tuple[CollectorProc, dict[str, str], grpc.Channel], raw: bytes, as_device: bool
) -> None:
    collector, creds, channel = served
    before = _counts(collector.db.removeprefix("sqlite:///"))
    auth = (("authorization", f"Device {creds['device_secret']}"),)
    payload = _field1(creds["device_id"]) + raw if as_device else raw
    call = channel.unary_unary(
        "/fleetpulse.v1.Telemetry/Report", response_deserializer=pb.ReportResponse.FromString
    )
    try:
        resp = call(payload, metadata=auth, timeout=10)
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED), (
            err.code(),
            err.details(),
        )
    else:  # garbage that happens to decode as a report of no records
        assert as_device and resp.accepted == 0
    assert _counts(collector.db.removeprefix("sqlite:///")) == before
    assert collector.proc.poll() is None
    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="fleetpulse.v1.Telemetry"), timeout=10
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
