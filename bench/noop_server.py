"""A bare grpc.aio server for the Telemetry/Report method that parses the request and acks
it without doing anything: the ceiling the collector is compared against."""

from __future__ import annotations

import asyncio
import sys

import grpc

from fleetpulse.v1 import telemetry_pb2 as pb


async def main(listen: str) -> None:
    async def report(raw: bytes, context: grpc.aio.ServicerContext) -> pb.ReportResponse:
        req = pb.ReportRequest.FromString(raw)
        return pb.ReportResponse(accepted=len(req.records))

    server = grpc.aio.server(compression=grpc.Compression.Gzip)
    handler = grpc.unary_unary_rpc_method_handler(
        report, response_serializer=pb.ReportResponse.SerializeToString
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("fleetpulse.v1.Telemetry", {"Report": handler}),)
    )
    port = server.add_insecure_port(listen)
    await server.start()
    print(f"gRPC    127.0.0.1:{port}", flush=True)
    print("metrics none", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"))
