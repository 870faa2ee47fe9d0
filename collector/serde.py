"""fleetpulse.v1 messages -> collector model. Proto types stop here."""

from __future__ import annotations

from typing import TypeVar

from fleetpulse.v1 import telemetry_pb2 as pb
from google.protobuf.message import DecodeError, Message

from agent.records import DeviceFacts
from agent.serde import record_from_proto
from collector.errors import InvalidReport
from collector.model import Incoming, Report
from collector.settings import AgentSettings

_M = TypeVar("_M", bound=Message)


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


def report_from_bytes(raw: bytes) -> Report:
    return report_from_proto(_parse(pb.ReportRequest, raw))


def report_from_proto(req: pb.ReportRequest) -> Report:
    records = []
    problems = []
    for rec in req.records:
        try:
            records.append(Incoming(rec.seq, rec.observed_at, record_from_proto(rec)))
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
