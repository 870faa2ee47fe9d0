"""fleetpulse.v1 messages -> collector model. Proto types stop here."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from fleetpulse.collector.errors import InvalidReport
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.settings import AgentSettings
from fleetpulse.contract.frozen import positional
from fleetpulse.contract.records import DeviceFacts
from fleetpulse.contract.serde import body_from_proto
from fleetpulse.v1 import telemetry_pb2 as pb

_M = TypeVar("_M", bound=Message)
_Incoming = positional(Incoming)  # Incoming(...), built faster (contract/frozen.py)


def facts_from_proto(f: pb.DeviceFacts) -> DeviceFacts:
    return DeviceFacts(
        hostname=f.hostname[:256],
        os=f.os[:32],
        os_version=f.os_version[:256],
        agent_version=f.agent_version[:64],
        hardware_id=f.hardware_id[:256],
        machine_id=f.machine_id[:256],
        cpu_count=f.cpu_count,
        memory_bytes=f.memory_bytes,
        boot_time=f.boot_time if f.HasField("boot_time") else None,
        form_factor=f.form_factor[:32],
        manufacturer=f.manufacturer[:64],
        model=f.model[:64],
        system_disk=f.system_disk[:32],
    )


def _parse(cls: type[_M], raw: bytes) -> _M:
    try:
        return cls.FromString(raw)
    except DecodeError:
        raise InvalidReport(
            [(0, f"request is not a valid {cls.DESCRIPTOR.full_name} message")]
        ) from None


def enroll_from_bytes(raw: bytes) -> pb.EnrollRequest:
    return _parse(pb.EnrollRequest, raw)


def parse_report(raw: bytes) -> pb.ReportRequest:
    """The request decoded by upb (C), or InvalidReport if it is not a ReportRequest."""
    return _parse(pb.ReportRequest, raw)


def report_from_bytes(raw: bytes) -> Report:
    return report_from_proto(_parse(pb.ReportRequest, raw))


#: Enum values the contract defines for incoming records; proto3 keeps any other number as
#: is, and the agent's decoder would read it as a default (a live sign-in, an unknown boot).
SIGNIN_STATES = (pb.SIGNIN_STATE_IN_PROGRESS, pb.SIGNIN_STATE_COMPLETE)
BOOT_TYPES = (
    pb.BOOT_TYPE_UNSPECIFIED,  # the device could not tell
    pb.BOOT_TYPE_COLD,
    pb.BOOT_TYPE_FAST_STARTUP,
    pb.BOOT_TYPE_RESUME,
)


def _enum_problem(body: str | None, rec: pb.Record) -> str | None:
    """Why the body named ``body`` (``rec.WhichOneof("body")``) holds an enum value the
    contract does not define, or None."""
    if body == "signin":
        if (state := rec.signin.state) not in SIGNIN_STATES:
            return f"signin: state {state} is not IN_PROGRESS (1) or COMPLETE (2)"
    elif body == "boot" and (boot_type := rec.boot.boot_type) not in BOOT_TYPES:
        return f"boot: boot_type {boot_type} is not one of 0..3"
    return None


def report_from_proto(req: pb.ReportRequest) -> Report:
    """The report, or InvalidReport naming every record with an undefined enum value or
    no body. Each record's body is named once (WhichOneof) for both the check and the
    decoding."""
    records = []
    problems = []
    for rec in req.records[:]:  # a list iterates faster than upb's container
        body = rec.WhichOneof("body")
        if problem := _enum_problem(body, rec):
            problems.append((rec.seq, problem))
            continue
        try:
            records.append(_Incoming(rec.seq, rec.observed_at, body_from_proto(body, rec)))
        except ValueError as exc:
            problems.append((rec.seq, str(exc)))
    if problems:
        raise InvalidReport(problems)
    return Report(req.device_id, facts_from_proto(req.facts), records, req.sent_at)


def settings_to_proto(s: AgentSettings) -> pb.Settings:
    return pb.Settings(
        report_interval_seconds=s.report_interval_seconds,
        app_allowlist=list(s.app_allowlist),
        signin_slo_seconds=s.signin_slo_seconds,
    )
