"""gRPC channels to the collector: TLS by default, plaintext only to loopback or when forced."""

from __future__ import annotations

import grpc

from fleetpulse.agent.errors import ConfigError
from fleetpulse.contract import address
from fleetpulse.contract.address import AddressError, is_loopback

# Keepalive (gRPC core doc/keepalive.md, proposal A8): a ping every 2 minutes, also between
# reports, finds a connection that died (NAT timeout, collector host gone) before the next
# report waits out its deadline on it. The collector accepts one ping per minute without
# calls (fleetpulse.collector.server.KEEPALIVE_MIN_PING_MS): at half that rate an agent never
# collects the ping strikes that end in GOAWAY "too_many_pings".
KEEPALIVE_TIME_MS = 120_000
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),  # keepalive pings need no data in between
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.enable_retries", 0),  # the spool and Backoff retry; no hidden resends
]


def split_target(target: str) -> tuple[str, int]:
    """The collector address as (host, port); ConfigError when it is not HOST:PORT."""
    try:
        return address.split_target(target)
    except AddressError as exc:
        raise ConfigError(f"collector {exc}") from exc


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def open_channel(
    target: str,
    ca_cert: str | None = None,
    insecure: bool = False,
    client_cert: str | None = None,
    client_key: str | None = None,
) -> grpc.Channel:
    """TLS when a CA is given (with a client certificate for mTLS), plaintext only to
    loopback or when ``insecure``, otherwise TLS against the system's roots."""
    split_target(target)
    if bool(client_cert) != bool(client_key):
        raise ConfigError("--client-cert and --client-key go together")
    if ca_cert or client_cert or not (insecure or is_loopback(target)):
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(ca_cert, "CA certificate") if ca_cert else None,
            private_key=_read(client_key, "client key") if client_key else None,
            certificate_chain=_read(client_cert, "client certificate") if client_cert else None,
        )
        return grpc.secure_channel(
            target, creds, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip
        )
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip)
