"""gRPC channels to the collector: TLS by default, plaintext only to loopback or when forced."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

from agent.errors import ConfigError

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.enable_retries", 0),  # the spool and Backoff retry; no hidden resends
]


def is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"collector address must be HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)


def open_channel(target: str, ca_cert: str | None = None, insecure: bool = False) -> grpc.Channel:
    split_target(target)
    if ca_cert:
        try:
            roots = Path(ca_cert).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read CA certificate {ca_cert}: {exc}") from exc
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        return grpc.secure_channel(
            target, creds, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip
        )
    if insecure or is_loopback(target):
        return grpc.insecure_channel(
            target, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip
        )
    return grpc.secure_channel(
        target,
        grpc.ssl_channel_credentials(),
        options=CHANNEL_OPTIONS,
        compression=grpc.Compression.Gzip,
    )
