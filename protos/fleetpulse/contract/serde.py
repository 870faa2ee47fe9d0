"""Agent records <-> fleetpulse.v1 protobuf messages. Proto types stop here."""

from __future__ import annotations

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


def _phases_from(phases: object) -> tuple[Phase, ...]:
    return tuple(Phase(p.name, p.seconds) for p in phases)  # type: ignore[attr-defined]


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


def _opt(msg: object, name: str) -> object | None:
    return getattr(msg, name) if msg.HasField(name) else None  # type: ignore[attr-defined]


def record_from_proto(msg: pb.Record) -> Record:
    body = msg.WhichOneof("body")
    if body == "boot":
        b = msg.boot
        return BootRecord(
            boot_id=b.boot_id,
            boot_time=b.boot_time,
            total_seconds=b.total_seconds if b.HasField("total_seconds") else None,
            phases=_phases_from(b.phases),
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
            phases=_phases_from(s.phases),
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
