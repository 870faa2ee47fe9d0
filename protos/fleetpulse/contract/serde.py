"""Agent records <-> fleetpulse.v1 protobuf messages. Proto types stop here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fleetpulse.contract.frozen import positional
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    BootType,
    Contributor,
    Culprit,
    DeviceFacts,
    EndReason,
    HealthRecord,
    Phase,
    Record,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)
from fleetpulse.v1 import telemetry_pb2 as pb

_BOOT_TYPE = {
    BootType.UNKNOWN: pb.BOOT_TYPE_UNSPECIFIED,
    BootType.COLD: pb.BOOT_TYPE_COLD,
    BootType.FAST_STARTUP: pb.BOOT_TYPE_FAST_STARTUP,
    BootType.RESUME: pb.BOOT_TYPE_RESUME,
}
_BOOT_TYPE_BACK = {v: k for k, v in _BOOT_TYPE.items()}
_STATE = {
    SigninState.IN_PROGRESS: pb.SIGNIN_STATE_IN_PROGRESS,
    SigninState.COMPLETE: pb.SIGNIN_STATE_COMPLETE,
}
_STATE_BACK = {v: k for k, v in _STATE.items()}
_END_REASON = {
    EndReason.SIGN_OUT: pb.END_REASON_SIGN_OUT,
    EndReason.DISCONNECT: pb.END_REASON_DISCONNECT,
}
_END_REASON_BACK = {v: k for k, v in _END_REASON.items()}


def _phases(phases: tuple[Phase, ...]) -> list[pb.Phase]:
    return [pb.Phase(name=p.name, seconds=p.seconds) for p in phases]


def record_to_proto(record: Record, observed_at: float, seq: int = 0) -> pb.Record:
    msg = pb.Record(seq=seq, observed_at=observed_at)
    if isinstance(record, BootRecord):
        msg.boot.CopyFrom(
            pb.Boot(
                boot_id=record.boot_id,
                boot_time=record.boot_time,
                total_seconds=record.total_seconds,
                phases=_phases(record.phases),
                boot_type=_BOOT_TYPE[record.boot_type],
                degraded=record.degraded,
                culprits=[
                    pb.Culprit(name=c.name, kind=c.kind, seconds=c.seconds) for c in record.culprits
                ],
            )
        )
    elif isinstance(record, SigninRecord):
        msg.signin.CopyFrom(
            pb.Signin(
                session_id=record.session_id,
                boot_id=record.boot_id,
                user_hash=record.user_hash,
                started_at=record.started_at,
                state=_STATE[record.state],
                total_seconds=record.total_seconds,
                elapsed_seconds=record.elapsed_seconds,
                phases=_phases(record.phases),
                first_login=record.first_login,
                after_update=record.after_update,
                contributors=[
                    pb.Contributor(kind=c.kind, name=c.name, seconds=c.seconds)
                    for c in record.contributors
                ],
            )
        )
    elif isinstance(record, AppUsageRecord):
        msg.app_usage.CopyFrom(
            pb.AppUsage(
                interval_start=record.interval_start,
                interval_seconds=record.interval_seconds,
                app=record.app,
                launches=record.launches,
                running_seconds=record.running_seconds,
                foreground_seconds=record.foreground_seconds,
                cpu_seconds=record.cpu_seconds,
                peak_rss_bytes=record.peak_rss_bytes,
                crashes=record.crashes,
            )
        )
    elif isinstance(record, SigninEndRecord):
        msg.signin_end.CopyFrom(
            pb.SigninEnd(
                boot_id=record.boot_id,
                session_id=record.session_id,
                ended_at=record.ended_at,
                reason=_END_REASON[record.reason],
            )
        )
    else:
        msg.health.CopyFrom(
            pb.AgentHealth(
                dropped=record.dropped,
                parse_errors=record.parse_errors,
                spool_bytes=record.spool_bytes,
                clock_skew_seconds=record.clock_skew_seconds,
                rejected=record.rejected,
            )
        )
    return msg


def _phases_from(phases: Sequence[pb.Phase]) -> tuple[Phase, ...]:
    # a slice (a list) iterates faster than upb's repeated container
    return tuple([_Phase(p.name, p.seconds) for p in phases[:]]) if phases else ()


#: The decoder's constructors: the same frozen records, built faster (contract/frozen.py).
_Phase = positional(Phase)
_Culprit = positional(Culprit)
_Contributor = positional(Contributor)
_BootRecord = positional(BootRecord)
_SigninRecord = positional(SigninRecord)
_AppUsageRecord = positional(AppUsageRecord)
_HealthRecord = positional(HealthRecord)
_SigninEndRecord = positional(SigninEndRecord)


# Decoding reads each body once. A proto3 ``optional`` field reads as its default (0, False)
# when absent, so a non-default value is present without asking: ``HasField`` is asked
# only of a default value, to tell "sent as 0" from "unknown" (None).


def _boot_from(b: pb.Boot) -> BootRecord:
    total = b.total_seconds
    degraded = b.degraded
    culprits = b.culprits
    return _BootRecord(
        b.boot_id,
        b.boot_time,
        total if total or b.HasField("total_seconds") else None,
        _phases_from(b.phases),
        _BOOT_TYPE_BACK.get(b.boot_type, BootType.UNKNOWN),
        degraded if degraded or b.HasField("degraded") else None,
        tuple([_Culprit(c.name, c.kind, c.seconds) for c in culprits[:]]) if culprits else (),
    )


def _signin_from(s: pb.Signin) -> SigninRecord:
    total = s.total_seconds
    first = s.first_login
    after = s.after_update
    contributors = s.contributors
    return _SigninRecord(
        s.session_id,
        s.boot_id,
        s.user_hash,
        s.started_at,
        _STATE_BACK.get(s.state, SigninState.IN_PROGRESS),
        total if total or s.HasField("total_seconds") else None,
        s.elapsed_seconds,
        _phases_from(s.phases),
        first if first or s.HasField("first_login") else None,
        after if after or s.HasField("after_update") else None,
        tuple([_Contributor(c.kind, c.name, c.seconds) for c in contributors[:]])
        if contributors
        else (),
    )


def _app_usage_from(a: pb.AppUsage) -> AppUsageRecord:
    foreground = a.foreground_seconds
    rss = a.peak_rss_bytes
    crashes = a.crashes
    return _AppUsageRecord(
        a.interval_start,
        a.interval_seconds,
        a.app,
        a.launches,
        a.running_seconds,
        foreground if foreground or a.HasField("foreground_seconds") else None,
        a.cpu_seconds,
        rss if rss or a.HasField("peak_rss_bytes") else None,
        crashes if crashes or a.HasField("crashes") else None,
    )


def _health_from(h: pb.AgentHealth) -> HealthRecord:
    skew = h.clock_skew_seconds
    return _HealthRecord(
        dict(h.dropped),
        h.parse_errors,
        h.spool_bytes,
        skew if skew or h.HasField("clock_skew_seconds") else None,
        h.rejected,
    )


def _signin_end_from(e: pb.SigninEnd) -> SigninEndRecord:
    reason = _END_REASON_BACK.get(e.reason)
    if reason is None:
        raise ValueError(f"signin_end: reason {e.reason} is not SIGN_OUT (1) or DISCONNECT (2)")
    return _SigninEndRecord(e.session_id, e.boot_id, e.ended_at, reason)


_BODY_FROM: dict[str, Callable[[Any], Record]] = {
    "boot": _boot_from,
    "signin": _signin_from,
    "app_usage": _app_usage_from,
    "health": _health_from,
    "signin_end": _signin_end_from,
}


def body_from_proto(body: str | None, msg: pb.Record) -> Record:
    """The record of ``msg`` whose body is ``body`` (``msg.WhichOneof("body")``, read once
    by a caller that also looks at the body); ValueError for no body or an undefined end
    reason, as ``record_from_proto``."""
    if body is None or (read := _BODY_FROM.get(body)) is None:
        raise ValueError(f"record has no body: {body!r}")
    return read(getattr(msg, body))


def record_from_proto(msg: pb.Record) -> Record:
    """The agent record ``msg`` carries (its seq and observed_at aside). Optional fields
    the message leaves absent are None (unknown); ValueError for a record with no body or
    a sign-in end with an undefined reason."""
    return body_from_proto(msg.WhichOneof("body"), msg)


def record_to_bytes(record: Record, observed_at: float) -> bytes:
    """The spool's payload: a Record without its seq (the spool assigns it)."""
    return record_to_proto(record, observed_at).SerializeToString()


def facts_to_proto(facts: DeviceFacts) -> pb.DeviceFacts:
    return pb.DeviceFacts(
        hostname=facts.hostname,
        os=facts.os,
        os_version=facts.os_version,
        agent_version=facts.agent_version,
        hardware_id=facts.hardware_id,
        machine_id=facts.machine_id,
        cpu_count=facts.cpu_count,
        memory_bytes=facts.memory_bytes,
        boot_time=facts.boot_time,
        form_factor=facts.form_factor,
        manufacturer=facts.manufacturer,
        model=facts.model,
        system_disk=facts.system_disk,
    )


def report_request(
    device_id: str, facts: DeviceFacts, spooled: list[tuple[int, bytes]], sent_at: float
) -> pb.ReportRequest:
    """Builds a report from spooled ``(seq, payload)`` pairs."""
    req = pb.ReportRequest(device_id=device_id, facts=facts_to_proto(facts), sent_at=sent_at)
    for seq, payload in spooled:
        rec = req.records.add()
        rec.MergeFromString(payload)
        rec.seq = seq
    return req
