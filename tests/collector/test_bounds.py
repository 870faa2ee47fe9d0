"""Every number of the contract at its limit: accepted and stored, one past it refused.

The integer bounds come from the schema (collector/store/schema.py); the first test checks
that the schema's declared column types are what both real databases hold, the walk then
stores each integer field at its column's limit on SQLite and PostgreSQL and reads it back,
and refuses one more, naming the record's seq.
"""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.serde import report_from_proto
from fleetpulse.collector.store.base import Store
from fleetpulse.collector.store.schema import column_types
from fleetpulse.collector.validation import (
    EARLIEST,
    FUTURE_SLACK,
    INTEGER_BOUNDS,
    INTEGER_COLUMNS,
    MAX_DURATION,
    MAX_INTERVAL,
    UNSTORED_INTEGERS,
    validate,
)
from fleetpulse.v1 import telemetry_pb2 as pb

NOW = 1_800_000_000.0
PG_TYPES = {
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "double precision": "DOUBLE PRECISION",
    "text": "TEXT",
}


def _query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    if db_url.startswith("sqlite:///"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    with psycopg.connect(db_url) as conn:
        return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]


def test_schema_column_types_are_the_databases_column_types(store: Store, db_url: str) -> None:
    declared = column_types()
    if db_url.startswith("sqlite:///"):
        tables = {t.split(".")[0] for t in declared}
        actual = {
            f"{t}.{r[1]}": str(r[2])
            for t in tables
            for r in _query(db_url, f"PRAGMA table_info({t})")
        }
    else:
        actual = {
            f"{t}.{c}": PG_TYPES[str(d)]
            for t, c, d in _query(
                db_url,
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name <> 'fleetpulse_schema'",
            )
        }
    assert actual == declared
    for field, columns in INTEGER_COLUMNS.items():  # every bound names an integer column
        assert all(declared[c] in ("INTEGER", "BIGINT") for c in columns), field
    assert INTEGER_BOUNDS["AppUsage.launches"] == (0, 2**31 - 1)
    assert INTEGER_BOUNDS["AppUsage.peak_rss_bytes"] == (0, 2**63 - 1)
    assert INTEGER_BOUNDS["Record.seq"] == (1, 2**63 - 1)


# -- the walk ------------------------------------------------------------------------------


def _record(body: str, seq: int = 1, **fields: Any) -> pb.Record:
    """A valid record of ``body`` kind, with ``fields`` set on its body."""
    rec = pb.Record(seq=seq, observed_at=NOW)
    if body == "boot":
        rec.boot.CopyFrom(pb.Boot(boot_id=f"b{seq}", boot_time=NOW - 600, total_seconds=60))
    elif body in ("signin", "signin_live"):
        state = pb.SIGNIN_STATE_COMPLETE if body == "signin" else pb.SIGNIN_STATE_IN_PROGRESS
        rec.signin.CopyFrom(
            pb.Signin(
                session_id=f"s{seq}",
                boot_id="b",
                user_hash="h",
                started_at=NOW - 300,
                state=state,
                total_seconds=30,
            )
        )
    elif body == "app_usage":
        rec.app_usage.CopyFrom(
            pb.AppUsage(
                interval_start=NOW - 600,
                interval_seconds=600,
                app="x.exe",
                launches=1,
                running_seconds=60,
                cpu_seconds=1,
            )
        )
    elif body == "signin_end":
        rec.signin_end.CopyFrom(
            pb.SigninEnd(
                boot_id="b", session_id=f"s{seq}", ended_at=NOW - 60, reason=pb.END_REASON_SIGN_OUT
            )
        )
    else:
        rec.health.CopyFrom(pb.AgentHealth(parse_errors=0, spool_bytes=10))
    msg = getattr(rec, "signin" if body == "signin_live" else body)
    for name, value in fields.items():
        if name == "dropped":
            msg.dropped.update(value)
        elif name in ("phase", "culprit", "contributor"):
            getattr(msg, f"{name}s").add().CopyFrom(value)
        else:
            setattr(msg, name, value)
    return rec


def _ingest(store: Store, device: str, rec: pb.Record) -> None:
    report = report_from_proto(pb.ReportRequest(device_id=device, records=[rec], sent_at=NOW))
    validate(report, NOW)
    [outcome] = store.ingest([report], NOW)
    assert [i.seq for i in outcome.accepted] == [rec.seq]


def _refused(rec: pb.Record) -> str:
    with pytest.raises(InvalidReport) as err:
        validate(report_from_proto(pb.ReportRequest(device_id="d", records=[rec])), NOW)
    assert err.value.seqs == [rec.seq]
    return str(err.value)


#: integer field -> (record kind, body field, SELECT reading it back for ?device)
INTEGERS: dict[str, tuple[str, str, str]] = {
    "AppUsage.launches": ("app_usage", "launches", "SELECT launches FROM app_usage"),
    "AppUsage.crashes": ("app_usage", "crashes", "SELECT crashes FROM app_usage"),
    "AppUsage.peak_rss_bytes": (
        "app_usage",
        "peak_rss_bytes",
        "SELECT peak_rss_bytes FROM app_usage",
    ),
    "AgentHealth.parse_errors": (
        "health",
        "parse_errors",
        "SELECT parse_errors FROM device_health",
    ),
    "AgentHealth.spool_bytes": ("health", "spool_bytes", "SELECT spool_bytes FROM device_health"),
    "AgentHealth.rejected": ("health", "rejected", "SELECT rejected FROM device_health"),
    "AgentHealth.dropped": ("health", "dropped", "SELECT dropped FROM device_health"),
}
SEQ_READBACK = {
    "boot": "SELECT seq FROM boots",
    "signin": "SELECT seq FROM signins",
    "signin_live": "SELECT last_seq FROM signins_in_progress",
    "app_usage": "SELECT seq FROM app_usage",
    "health": "SELECT last_seq FROM device_health",
}


@pytest.mark.parametrize("field", sorted(INTEGERS))
def test_integer_at_its_column_limit_is_stored_and_one_more_refused(
    store: Store, db_url: str, field: str
) -> None:
    kind, name, select = INTEGERS[field]
    lo, hi = INTEGER_BOUNDS[field]
    device = str(uuid.uuid4())
    value: Any = {"boot": hi} if name == "dropped" else hi
    _ingest(store, device, _record(kind, 5, **{name: value}))
    [(got,)] = _query(db_url, f"{select} WHERE device_id = ?", device)
    assert (json.loads(got) if name == "dropped" else got) == value
    over: Any = {"boot": hi + 1} if name == "dropped" else hi + 1
    assert f"within {lo}..{hi}" in _refused(_record(kind, 6, **{name: over}))


def test_memory_bytes_at_its_column_limit_is_stored_and_one_more_refused(
    store: Store, db_url: str
) -> None:
    lo, hi = INTEGER_BOUNDS["DeviceFacts.memory_bytes"]
    store.create_token("t", "th", "hq", NOW, None, None)
    store.enroll("th", "dev", "sh", "h", "linux", "12", "1.0", "hw", "m", NOW)
    facts = pb.DeviceFacts(hostname="h", os="linux", memory_bytes=hi)
    store.ingest([report_from_proto(pb.ReportRequest(device_id="dev", facts=facts))], NOW)
    assert _query(db_url, "SELECT memory_bytes FROM devices WHERE device_id = ?", "dev") == [(hi,)]
    facts.memory_bytes = hi + 1
    with pytest.raises(InvalidReport, match=f"memory_bytes must be within {lo}..{hi}"):
        validate(report_from_proto(pb.ReportRequest(device_id="dev", facts=facts)), NOW)


@pytest.mark.parametrize("kind", sorted(SEQ_READBACK))
def test_seq_at_its_column_limit_is_stored_and_one_more_refused(
    store: Store, db_url: str, kind: str
) -> None:
    lo, hi = INTEGER_BOUNDS["Record.seq"]
    device = str(uuid.uuid4())
    _ingest(store, device, _record(kind, hi))
    assert _query(db_url, f"{SEQ_READBACK[kind]} WHERE device_id = ?", device) == [(hi,)]
    with pytest.raises(InvalidReport) as err:
        validate(
            report_from_proto(pb.ReportRequest(device_id="d", records=[_record(kind, hi + 1)])), NOW
        )
    assert err.value.seqs == [hi + 1]
    assert _record(kind, 0).seq == lo - 1
    with pytest.raises(InvalidReport, match="seq must be within"):
        validate(
            report_from_proto(pb.ReportRequest(device_id="d", records=[_record(kind, lo - 1)])), NOW
        )


#: double field -> (record kind, body field, its highest accepted value, SELECT or None)
LATEST = NOW + FUTURE_SLACK
DOUBLES: dict[str, tuple[str, str, float, str | None]] = {
    "Boot.boot_time": ("boot", "boot_time", LATEST, "SELECT boot_time FROM boots"),
    "Boot.total_seconds": (
        "boot",
        "total_seconds",
        MAX_DURATION,
        "SELECT total_seconds FROM boots",
    ),
    "Signin.started_at": ("signin", "started_at", LATEST, "SELECT started_at FROM signins"),
    "Signin.total_seconds": (
        "signin",
        "total_seconds",
        MAX_DURATION,
        "SELECT total_seconds FROM signins",
    ),
    "Signin.elapsed_seconds": (
        "signin_live",
        "elapsed_seconds",
        MAX_DURATION,
        "SELECT elapsed_seconds FROM signins_in_progress",
    ),
    "SigninEnd.ended_at": ("signin_end", "ended_at", LATEST, "SELECT ended_at FROM signin_ends"),
    "AppUsage.interval_start": (
        "app_usage",
        "interval_start",
        LATEST,
        "SELECT interval_start FROM app_usage",
    ),
    "AppUsage.interval_seconds": (
        "app_usage",
        "interval_seconds",
        MAX_INTERVAL,
        "SELECT interval_seconds FROM app_usage",
    ),
    "AppUsage.running_seconds": (
        "app_usage",
        "running_seconds",
        600 * 1024,
        "SELECT running_seconds FROM app_usage",
    ),
    "AppUsage.foreground_seconds": (
        "app_usage",
        "foreground_seconds",
        601,
        "SELECT foreground_seconds FROM app_usage",
    ),
    "AppUsage.cpu_seconds": (
        "app_usage",
        "cpu_seconds",
        600 * 1024,
        "SELECT cpu_seconds FROM app_usage",
    ),
    "AgentHealth.clock_skew_seconds": (
        "health",
        "clock_skew_seconds",
        10 * 365 * 86400,
        "SELECT clock_skew_seconds FROM device_health",
    ),
    "Phase.seconds": ("boot", "phase", MAX_DURATION, None),
    "Culprit.seconds": ("boot", "culprit", MAX_DURATION, None),
    "Contributor.seconds": (
        "signin",
        "contributor",
        MAX_DURATION,
        "SELECT seconds FROM signin_contributors",
    ),
    "Record.observed_at": ("health", "", LATEST, None),
}
#: doubles that are not stored and not checked: informational only
UNCHECKED_DOUBLES = ("DeviceFacts.boot_time", "ReportRequest.sent_at")


def _with(kind: str, name: str, value: float, seq: int) -> pb.Record:
    if name == "phase":
        return _record(kind, seq, phase=pb.Phase(name="main_path", seconds=value))
    if name == "culprit":
        return _record(kind, seq, culprit=pb.Culprit(name="x", kind="driver", seconds=value))
    if name == "contributor":
        c = pb.Contributor(kind="gp_extension", name="Drive Maps", seconds=value)
        return _record(kind, seq, contributor=c)
    if name == "":
        rec = _record(kind, seq)
        rec.observed_at = value
        return rec
    return _record(kind, seq, **{name: value})


@pytest.mark.parametrize("field", sorted(DOUBLES))
def test_double_at_its_limit_is_stored_and_beyond_refused(
    store: Store, db_url: str, field: str
) -> None:
    kind, name, limit, select = DOUBLES[field]
    device = str(uuid.uuid4())
    _ingest(store, device, _with(kind, name, limit, 3))
    if select is not None:
        assert _query(db_url, f"{select} WHERE device_id = ?", device) == [(limit,)]
    for beyond in (
        math.nextafter(limit, math.inf) if limit > 1e6 else limit + 1,
        math.inf,
        math.nan,
    ):
        _refused(_with(kind, name, beyond, 4))
    if name == "clock_skew_seconds":  # a device clock may be behind: -limit..limit
        _ingest(store, device, _with(kind, name, -limit, 5))
        _refused(_with(kind, name, -math.nextafter(limit, math.inf), 6))
    elif name not in ("boot_time", "started_at", "ended_at", "interval_start", ""):
        _refused(_with(kind, name, -1.0, 4))
    else:
        _refused(_with(kind, name, EARLIEST - 1, 4))


def _numeric_fields(d: Descriptor, seen: set[str]) -> Iterator[tuple[str, int]]:
    if d.full_name in seen:
        return
    seen.add(d.full_name)
    for f in d.fields:
        if f.message_type is not None:
            if f.message_type.GetOptions().map_entry:
                yield f"{d.name}.{f.name}", f.message_type.fields_by_name["value"].type
            else:
                yield from _numeric_fields(f.message_type, seen)
        elif f.type not in (
            FieldDescriptor.TYPE_STRING,
            FieldDescriptor.TYPE_BOOL,
            FieldDescriptor.TYPE_BYTES,
            FieldDescriptor.TYPE_ENUM,
        ):
            yield f"{d.name}.{f.name}", f.type


def test_every_number_of_the_contract_has_a_bound() -> None:
    fields = dict(_numeric_fields(pb.ReportRequest.DESCRIPTOR, set()))
    doubles = {n for n, t in fields.items() if t == FieldDescriptor.TYPE_DOUBLE}
    assert doubles == set(DOUBLES) | set(UNCHECKED_DOUBLES)
    assert set(fields) - doubles == set(INTEGER_BOUNDS) | set(UNSTORED_INTEGERS)
    assert set(INTEGERS) | {"Record.seq", "DeviceFacts.memory_bytes"} == set(INTEGER_BOUNDS)
