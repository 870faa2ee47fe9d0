"""Sends spooled records to the collector: deadlines, acks, rejections and retry hints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from fleetpulse.agent.errors import EnrollmentError
from fleetpulse.agent.spool import Spool
from fleetpulse.agent.transport import explain_connect_failure, open_channel, uses_tls
from fleetpulse.contract import serde
from fleetpulse.contract.records import DeviceFacts
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc

log = logging.getLogger("fleetpulse.agent.sender")

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


@dataclass
class SendResult:
    acked: int = 0
    duplicates: int = 0
    rejected: int = 0
    remaining: int = 0
    error: str | None = None
    code: str | None = None  # the gRPC status name of ``error``, e.g. "UNAUTHENTICATED"
    retry_after: float | None = None
    server_time: float | None = None
    round_trip: float | None = None
    settings: pb.Settings | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Enrollment:
    device_id: str
    device_secret: str
    site: str
    user_hash_key: bytes


def _metadata(err: grpc.RpcError) -> dict[str, str]:
    try:
        return {k: str(v) for k, v in (err.trailing_metadata() or ())}
    except Exception:  # a channel-level failure carries no metadata
        return {}


def _describe(err: grpc.RpcError) -> str:
    code = err.code()
    return f"{code.name}: {err.details()}"


def enroll(
    target: str,
    token: str,
    facts: DeviceFacts,
    ca_cert: str | None = None,
    insecure: bool = False,
    deadline: float = 15.0,
    client_cert: str | None = None,
    client_key: str | None = None,
    expected_site: str | None = None,
) -> Enrollment:
    """Exchanges ``token`` for a device credential. With ``expected_site`` the collector
    refuses a token of another site (FAILED_PRECONDITION) before enrolling anything.
    Raises EnrollmentError (one line: the gRPC status, or for a connection that failed
    while it was set up the cause and the fix, transport.explain_connect_failure)."""
    request = pb.EnrollRequest(
        token=token, facts=serde.facts_to_proto(facts), expected_site=expected_site or ""
    )
    with open_channel(target, ca_cert, insecure, client_cert, client_key) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        try:
            resp = stub.Enroll(request, timeout=deadline)
        except grpc.RpcError as err:
            why = None
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                tls = uses_tls(target, ca_cert, insecure, client_cert)
                why = explain_connect_failure(str(err.details()), target, ca_cert, tls)
            raise EnrollmentError(
                f"enrollment at {target} failed: {why or _describe(err)}"
            ) from None
    return Enrollment(resp.device_id, resp.device_secret, resp.site, resp.user_hash_key)


class Sender:
    """One collector connection for one device."""

    def __init__(
        self,
        target: str,
        device_id: str,
        device_secret: str,
        ca_cert: str | None = None,
        insecure: bool = False,
        deadline: float = 10.0,
        batch_records: int = 500,
        clock: Callable[[], float] = time.time,
        channel: grpc.Channel | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        self.target = target
        self.device_id = device_id
        self._auth = (("authorization", f"Device {device_secret}"),)
        self._deadline = deadline
        self._configured_batch = batch_records
        self._batch = batch_records
        self._clock = clock
        self._own_channel = channel is None
        self._channel = channel or open_channel(target, ca_cert, insecure, client_cert, client_key)
        self._stub = pb_grpc.TelemetryStub(self._channel)

    def send(self, spool: Spool, facts: DeviceFacts, max_batches: int = 1000) -> SendResult:
        """Sends until the spool is empty or a call fails; acked records leave the spool.

        With nothing spooled it still sends one empty report: a heartbeat that keeps the
        device "reporting" and brings back the collector's time and settings.

        A report the collector refuses whole for its size (INVALID_ARGUMENT naming no
        record, e.g. more than its record limit; RESOURCE_EXHAUSTED without a retry hint,
        gRPC's "message larger than max") is split: the batch size halves and the same
        records go again, so no record is dropped or set aside for the size of its report.
        The smaller size is kept for later sends."""
        result = SendResult()
        for attempt in range(max_batches):
            batch = spool.peek(limit=self._batch)
            if not batch and attempt > 0:
                break
            sent_at = self._clock()
            request = serde.report_request(self.device_id, facts, batch, sent_at)
            try:
                resp = self._stub.Report(request, timeout=self._deadline, metadata=self._auth)
            except grpc.RpcError as err:
                if self._split(err, batch):
                    continue
                if not self._handle_error(err, spool, batch, result):
                    break
                continue
            received = self._clock()
            if batch:
                spool.ack([seq for seq, _ in batch])
            result.acked += resp.accepted
            result.duplicates += resp.duplicates
            result.round_trip = received - sent_at
            result.server_time = resp.server_time + result.round_trip / 2
            result.settings = resp.settings
        result.remaining = spool.stats().records
        return result

    def _split(self, err: grpc.RpcError, batch: list[tuple[int, bytes]]) -> bool:
        """True when ``err`` refuses the report for its size and a smaller batch may pass
        (the batch size is halved); a one-record batch refused so is a real error and the
        configured size comes back for the next send."""
        code = err.code()
        meta = _metadata(err)
        whole = (
            code == grpc.StatusCode.INVALID_ARGUMENT and not meta.get("fleetpulse-rejected-seqs")
        ) or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry-after-ms" not in meta)
        if not whole:
            return False
        if len(batch) <= 1:
            self._batch = self._configured_batch
            return False
        self._batch = max(1, len(batch) // 2)
        log.warning(
            "collector refused a report of %d records (%s); sending %d at a time",
            len(batch),
            _describe(err),
            self._batch,
        )
        return True

    def _handle_error(
        self, err: grpc.RpcError, spool: Spool, batch: list[tuple[int, bytes]], result: SendResult
    ) -> bool:
        """Records the failure; True if the loop should go on with the next batch."""
        code = err.code()
        meta = _metadata(err)
        hint = meta.get("retry-after-ms")
        if hint and hint.isdigit():
            result.retry_after = int(hint) / 1000
        if code == grpc.StatusCode.INVALID_ARGUMENT and meta.get("fleetpulse-rejected-seqs"):
            bad = [int(s) for s in meta["fleetpulse-rejected-seqs"].split(",") if s.isdigit()]
            mine = {seq for seq, _ in batch}
            bad = [s for s in bad if s in mine]
            if bad:
                log.warning("collector rejected %d record(s): %s", len(bad), err.details())
                spool.reject(bad, str(err.details()))
                result.rejected += len(bad)
                return True
        result.error = _describe(err)
        result.code = code.name
        if code not in RETRYABLE:
            log.error("collector refused the report: %s", result.error)
        return False

    def close(self) -> None:
        if self._own_channel:
            self._channel.close()
