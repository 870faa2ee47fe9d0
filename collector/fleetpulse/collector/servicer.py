"""The thin gRPC layer: metadata and proto in, domain call, status codes out."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import grpc

from fleetpulse.collector import serde, validation
from fleetpulse.collector.auth import Authenticator
from fleetpulse.collector.errors import (
    CollectorError,
    InvalidReport,
    PermissionDenied,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
    WrongSite,
)
from fleetpulse.collector.ingest import Ingestor
from fleetpulse.collector.model import Hardware
from fleetpulse.collector.redact import redact
from fleetpulse.collector.settings import SiteSettings
from fleetpulse.v1 import telemetry_pb2 as pb

log = logging.getLogger("fleetpulse.collector.servicer")


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return str(v)
    return None


async def _abort(context: grpc.aio.ServicerContext, err: Exception) -> None:
    """Ends the call with the status code of ``err`` (see fleetpulse.collector.errors) and its
    message, redacted. An exception not of ours is INTERNAL with a fixed message: its text
    may come from a driver or library and is only logged (redacted)."""
    message = redact(err)
    if isinstance(err, InvalidReport):
        context.set_trailing_metadata(
            (("fleetpulse-rejected-seqs", ",".join(str(s) for s in err.seqs[:1000])),)
        )
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(err, Unauthenticated):
        code = grpc.StatusCode.UNAUTHENTICATED
    elif isinstance(err, PermissionDenied):
        code = grpc.StatusCode.PERMISSION_DENIED
    elif isinstance(err, WrongSite):
        code = grpc.StatusCode.FAILED_PRECONDITION
    elif isinstance(err, RateLimited | StoreUnavailable):
        # rounded up, at least 1 ms: a wait of 0.4 ms is not "retry now" (0)
        wait_ms = max(1, math.ceil(err.retry_after * 1000))
        context.set_trailing_metadata((("retry-after-ms", str(wait_ms)),))
        code = (
            grpc.StatusCode.RESOURCE_EXHAUSTED
            if isinstance(err, RateLimited)
            else grpc.StatusCode.UNAVAILABLE
        )
    elif isinstance(err, CollectorError):
        code = grpc.StatusCode.INTERNAL
    else:
        code = grpc.StatusCode.INTERNAL
        log.error("unexpected %s: %s", type(err).__name__, message)
        message = "internal error (the collector log has the details)"
    log.info("%s: %s", code.name, message)
    await context.abort(code, message)


class TelemetryServicer:
    def __init__(self, auth: Authenticator, ingestor: Ingestor, settings: SiteSettings) -> None:
        self._auth = auth
        self._ingestor = ingestor
        self._settings = settings

    async def Enroll(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        try:
            request = serde.enroll_from_bytes(raw)
            f = request.facts
            facts = serde.facts_from_proto(f)
            validation.check_hardware(facts)
            dev = await asyncio.to_thread(
                self._auth.enroll,
                request.token,
                f.hostname[:256],
                f.os[:32],
                f.os_version[:256],
                f.agent_version[:64],
                f.hardware_id[:256],
                f.machine_id[:256],
                time.time(),
                request.expected_site[:256],
                context.peer(),
                Hardware.of(facts),
            )
        except grpc.aio.AbortError:
            raise
        except Exception as err:  # every failure becomes a precise status, never UNKNOWN
            await _abort(context, err)
            raise
        # %r: the hostname is the agent's word; a newline in it must not forge a log line
        log.info("enrolled %s (%r) at site %s", dev.device_id, f.hostname[:64], dev.site)
        return pb.EnrollResponse(
            device_id=dev.device_id,
            device_secret=dev.secret,
            site=dev.site,
            user_hash_key=dev.user_hash_key,
            settings=serde.settings_to_proto(self._settings.for_site(dev.site)),
        )

    async def Report(self, request: bytes, context: grpc.aio.ServicerContext) -> pb.ReportResponse:
        try:
            ack = await self._ingestor.report_bytes(
                request, _metadata(context, "authorization"), context.peer()
            )
        except grpc.aio.AbortError:
            raise
        except Exception as err:  # every failure becomes a precise status, never UNKNOWN
            await _abort(context, err)
            raise
        return pb.ReportResponse(
            accepted=ack.accepted,
            duplicates=ack.duplicates,
            server_time=ack.server_time,
            settings=serde.settings_to_proto(self._settings.for_site(ack.site)),
        )


def add_to_server(servicer: TelemetryServicer, server: grpc.aio.Server) -> None:
    """Registers the service taking raw bytes, so undecodable requests get INVALID_ARGUMENT
    with a message instead of a bare INTERNAL from the framework."""
    handlers = {
        "Enroll": grpc.unary_unary_rpc_method_handler(
            servicer.Enroll, response_serializer=pb.EnrollResponse.SerializeToString
        ),
        "Report": grpc.unary_unary_rpc_method_handler(
            servicer.Report, response_serializer=pb.ReportResponse.SerializeToString
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("fleetpulse.v1.Telemetry", handlers),)
    )
