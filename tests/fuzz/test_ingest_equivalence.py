"""The ingest worker's decoding and validation against their earlier, plainer forms.

Decoding reads each body once and asks ``HasField`` only of a default value; validation
stops at the first problem and takes a fast path for a value in range. The earlier forms
are kept below as the reference: on any drawn record, both give the same record (compared
by repr: NaN and -0.0 included), the same refusal and the same first problem, word for word.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.serde import (
    BOOT_TYPES,
    SIGNIN_STATES,
    facts_from_proto,
    report_from_proto,
)
from fleetpulse.collector.validation import (
    EARLIEST,
    FUTURE_SLACK,
    MAX_INTERVAL,
    _contributors,
    _count,
    _culprits,
    _dropped,
    _duration,
    _phases,
    _problem,
    _text,
    _time,
)
from fleetpulse.contract.frozen import positional
from fleetpulse.contract.phases import BOOT_PHASES, CONTRIBUTOR_KINDS, PROFILE_TYPES, SIGNIN_PHASES
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    BootType,
    Contributor,
    Culprit,
    HealthRecord,
    Phase,
    Record,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)
from fleetpulse.contract.serde import (
    _BOOT_TYPE_BACK,
    _END_REASON_BACK,
    _STATE_BACK,
    record_from_proto,
)
from fleetpulse.v1 import telemetry_pb2 as pb
from tests.fuzz import examples
from tests.fuzz.test_collector_input import NOW, records, seconds, short, wild

#: The highest value of each integer type of the contract (beyond every column's range).
_HIGHEST = {
    FieldDescriptor.CPPTYPE_INT32: 2**31 - 1,
    FieldDescriptor.CPPTYPE_INT64: 2**63 - 1,
    FieldDescriptor.CPPTYPE_UINT32: 2**32 - 1,
    FieldDescriptor.CPPTYPE_UINT64: 2**64 - 1,
}

# -- strategies ------------------------------------------------------------------------


@st.composite
def any_records(draw: st.DrawFn) -> pb.Record:
    """fuzz's records, sane or wild, with several texts and integers out of range at
    once, a sign-in with contributors now and then."""
    rec = draw(records(draw(st.booleans())))
    body = rec.WhichOneof("body")
    if body is not None:  # several texts wrong at once: only the first one is named
        sub = getattr(rec, body)
        for f in sub.DESCRIPTOR.fields:
            if f.message_type is not None or not draw(st.booleans()):  # lists, maps
                continue
            if f.type == f.TYPE_STRING:
                setattr(sub, f.name, draw(st.sampled_from(["", "a\x00", "x" * 300, "a\nb"])))
            elif f.cpp_type in _HIGHEST:
                setattr(sub, f.name, _HIGHEST[f.cpp_type])
    if body == "signin":
        kinds = st.one_of(st.sampled_from(CONTRIBUTOR_KINDS), short)
        names = st.one_of(st.sampled_from(PROFILE_TYPES), short)
        for _ in range(draw(st.integers(0, 3))):
            rec.signin.contributors.add(kind=draw(kinds), name=draw(names), seconds=draw(seconds))
    return rec


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert repr(a) == repr(b)


# -- decoding --------------------------------------------------------------------------


@examples(600)
@given(any_records())
def test_record_decodes_as_before(rec: pb.Record) -> None:
    try:
        before: Record | str = _record_from_proto_before(rec)
    except ValueError as exc:
        before = str(exc)
    try:
        after: Record | str = record_from_proto(rec)
    except ValueError as exc:
        after = str(exc)
    _same(after, before)


@examples(300)
@given(st.lists(any_records(), max_size=6))
def test_report_decodes_and_refuses_as_before(recs: list[pb.Record]) -> None:
    req = pb.ReportRequest(device_id="d", sent_at=NOW, records=recs)
    outcome: list[object] = []
    for decode in (report_from_proto, _report_from_proto_before):
        try:
            outcome.append(decode(req).records)
        except InvalidReport as err:
            outcome.append(err.problems)
    _same(outcome[0], outcome[1])


# -- validation ------------------------------------------------------------------------

limits = st.one_of(st.floats(0, 1e6), st.sampled_from([MAX_INTERVAL, 0.0, math.inf]), wild)


@examples(1000)
@given(st.one_of(st.none(), wild, seconds), limits)
def test_duration_check_as_before(value: float | None, limit: float) -> None:
    assert _duration("x", value, limit) == _duration_before("x", value, limit)


@examples(1000)
@given(
    st.one_of(wild, st.floats(EARLIEST - 10, NOW + 2 * FUTURE_SLACK)), st.one_of(st.just(NOW), wild)
)
def test_time_check_as_before(value: float, now: float) -> None:
    assert _time("x", value, now) == _time_before("x", value, now)


@examples(1000)
@given(any_records())
def test_first_problem_as_before(rec: pb.Record) -> None:
    try:
        inc = Incoming(rec.seq, rec.observed_at, record_from_proto(rec))
    except ValueError:
        return  # refused by decoding: validation never sees it
    assert _problem(inc, NOW) == _problem_before(inc, NOW)


def test_reference_finds_problems_too() -> None:
    """The comparison above is not between two functions that never find anything."""
    rec = SigninRecord("s", "", "u", NOW, SigninState.COMPLETE, -1.0)
    inc = Incoming(1, NOW, rec)
    assert _problem_before(inc, NOW) == _problem(inc, NOW) == "boot_id is empty"


# -- positional constructors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Phase, ("core", 1.5)),
        (SigninRecord, ("s", "b", "u", 1.0, SigninState.COMPLETE, None, 0.0, (), True, None, ())),
        (AppUsageRecord, (1.0, 60.0, "a.exe", 1, 2.0, None, 0.5, 7, None)),
        (Incoming, (3, 2.0, BootRecord("b", 1.0))),
    ],
)
def test_positional_builds_the_same_frozen_instance(cls: type, values: tuple[object, ...]) -> None:
    built = positional(cls)(*values)
    assert type(built) is cls
    assert built == cls(*values)
    assert hash(built) == hash(cls(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.__setattr__(dataclasses.fields(cls)[0].name, None)


def test_positional_refuses_what_it_would_change() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Mutable, Checked, Derived, NoSlots, int):
        with pytest.raises(TypeError):
            positional(cls)


# -- the earlier forms (the reference) ---------------------------------------------------


def _phases_from_before(phases: object) -> tuple[Phase, ...]:
    return tuple(Phase(p.name, p.seconds) for p in phases)  # type: ignore[attr-defined]


def _record_from_proto_before(msg: pb.Record) -> Record:
    body = msg.WhichOneof("body")
    if body == "boot":
        b = msg.boot
        return BootRecord(
            boot_id=b.boot_id,
            boot_time=b.boot_time,
            total_seconds=b.total_seconds if b.HasField("total_seconds") else None,
            phases=_phases_from_before(b.phases),
            boot_type=_BOOT_TYPE_BACK.get(b.boot_type, BootType.UNKNOWN),
            degraded=b.degraded if b.HasField("degraded") else None,
            culprits=tuple(Culprit(c.name, c.kind, c.seconds) for c in b.culprits),
        )
    if body == "signin":
        s = msg.signin
        return SigninRecord(
            session_id=s.session_id,
            boot_id=s.boot_id,
            user_hash=s.user_hash,
            started_at=s.started_at,
            state=_STATE_BACK.get(s.state, SigninState.IN_PROGRESS),
            total_seconds=s.total_seconds if s.HasField("total_seconds") else None,
            elapsed_seconds=s.elapsed_seconds,
            phases=_phases_from_before(s.phases),
            first_login=s.first_login if s.HasField("first_login") else None,
            after_update=s.after_update if s.HasField("after_update") else None,
            contributors=tuple(Contributor(c.kind, c.name, c.seconds) for c in s.contributors),
        )
    if body == "app_usage":
        a = msg.app_usage
        return AppUsageRecord(
            interval_start=a.interval_start,
            interval_seconds=a.interval_seconds,
            app=a.app,
            launches=a.launches,
            running_seconds=a.running_seconds,
            foreground_seconds=a.foreground_seconds if a.HasField("foreground_seconds") else None,
            cpu_seconds=a.cpu_seconds,
            peak_rss_bytes=a.peak_rss_bytes if a.HasField("peak_rss_bytes") else None,
            crashes=a.crashes if a.HasField("crashes") else None,
        )
    if body == "health":
        h = msg.health
        return HealthRecord(
            dropped=dict(h.dropped),
            parse_errors=h.parse_errors,
            spool_bytes=h.spool_bytes,
            clock_skew_seconds=h.clock_skew_seconds if h.HasField("clock_skew_seconds") else None,
            rejected=h.rejected,
        )
    if body == "signin_end":
        e = msg.signin_end
        reason = _END_REASON_BACK.get(e.reason)
        if reason is None:
            raise ValueError(f"signin_end: reason {e.reason} is not SIGN_OUT (1) or DISCONNECT (2)")
        return SigninEndRecord(
            session_id=e.session_id, boot_id=e.boot_id, ended_at=e.ended_at, reason=reason
        )
    raise ValueError(f"record has no body: {body!r}")


def _enum_problem_before(rec: pb.Record) -> str | None:
    body = rec.WhichOneof("body")
    if body == "signin" and rec.signin.state not in SIGNIN_STATES:
        return f"signin: state {rec.signin.state} is not IN_PROGRESS (1) or COMPLETE (2)"
    if body == "boot" and rec.boot.boot_type not in BOOT_TYPES:
        return f"boot: boot_type {rec.boot.boot_type} is not one of 0..3"
    return None


def _report_from_proto_before(req: pb.ReportRequest) -> Report:
    records = []
    problems = []
    for rec in req.records:
        if problem := _enum_problem_before(rec):
            problems.append((rec.seq, problem))
            continue
        try:
            records.append(Incoming(rec.seq, rec.observed_at, _record_from_proto_before(rec)))
        except ValueError as exc:
            problems.append((rec.seq, str(exc)))
    if problems:
        raise InvalidReport(problems)
    return Report(req.device_id, facts_from_proto(req.facts), records, req.sent_at)


def _duration_before(name: str, value: float | None, limit: float = 86400.0) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a non-negative number of seconds, got {value!r}"
    if value > limit:
        return f"{name} of {value:.0f} s is beyond the {limit:.0f} s limit"
    return None


def _time_before(name: str, value: float, now: float) -> str | None:
    if not math.isfinite(value) or value < EARLIEST:
        return f"{name} {value!r} is before 2000-01-01"
    if value > now + FUTURE_SLACK:
        return f"{name} is {value - now:.0f} s in the future"
    return None


def _problem_before(inc: Incoming, now: float) -> str | None:
    """Every check's result, in order; the first problem (the helpers are today's: their
    own fast paths are compared with their earlier forms above)."""
    r = inc.record
    checks: list[str | None] = [_time("observed_at", inc.observed_at, now)]
    if isinstance(r, BootRecord):
        checks += [
            _text("boot_id", r.boot_id),
            _time("boot_time", r.boot_time, now),
            _duration("total_seconds", r.total_seconds),
            _phases(r.phases, BOOT_PHASES),
            _culprits(r),
            *(_duration(f"culprit {c.name[:40]!r}", c.seconds) for c in r.culprits),
            *(_text("culprit name", c.name) for c in r.culprits),
        ]
    elif isinstance(r, SigninRecord):
        checks += [
            _text("session_id", r.session_id),
            _text("boot_id", r.boot_id),
            _text("user_hash", r.user_hash, required=False),
            _time("started_at", r.started_at, now),
            _duration("total_seconds", r.total_seconds),
            _duration("elapsed_seconds", r.elapsed_seconds),
            _phases(r.phases, SIGNIN_PHASES),
            _contributors(r),
        ]
    elif isinstance(r, SigninEndRecord):
        checks += [
            _text("session_id", r.session_id),
            _text("boot_id", r.boot_id),
            _time("ended_at", r.ended_at, now),
        ]
    elif isinstance(r, AppUsageRecord):
        limit = r.interval_seconds * 1024
        checks += [
            _text("app", r.app),
            _time("interval_start", r.interval_start, now),
            _duration("interval_seconds", r.interval_seconds, MAX_INTERVAL),
            _duration("running_seconds", r.running_seconds, limit),
            _duration("foreground_seconds", r.foreground_seconds, r.interval_seconds + 1),
            _duration("cpu_seconds", r.cpu_seconds, limit),
        ]
        checks += [
            _count("peak_rss_bytes", r.peak_rss_bytes, "AppUsage.peak_rss_bytes"),
            _count("launches", r.launches, "AppUsage.launches"),
            _count("crashes", r.crashes, "AppUsage.crashes"),
        ]
        if any(c in r.app for c in "\n\r\x00"):
            checks.append("app contains control characters")
    elif isinstance(r, HealthRecord):
        checks += [
            _duration("clock_skew_seconds", abs(r.clock_skew_seconds or 0.0), 10 * 365 * 86400),
            _count("parse_errors", r.parse_errors, "AgentHealth.parse_errors"),
            _count("spool_bytes", r.spool_bytes, "AgentHealth.spool_bytes"),
            _count("rejected", r.rejected, "AgentHealth.rejected"),
            _dropped(r.dropped),
            *(_count(f"dropped[{k!r}]", v, "AgentHealth.dropped") for k, v in r.dropped.items()),
        ]
    return next((c for c in checks if c), None)
