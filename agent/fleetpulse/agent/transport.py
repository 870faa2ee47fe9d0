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


def _check_pem_ca(data: bytes, path: str) -> None:
    """ConfigError unless ``data`` holds at least one PEM certificate OpenSSL can load
    (``ssl.SSLContext.load_verify_locations(cadata=str)``, Python's ssl module docs): gRPC
    would otherwise fail later with its own log lines and "Failed to create security
    handshaker"."""
    import ssl  # only when a CA file is given

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise ConfigError(
            f"--ca-cert {path} is not a PEM certificate (a text file starting with "
            "-----BEGIN CERTIFICATE-----); convert a DER file with: "
            f"openssl x509 -inform der -in {path} -out ca.pem"
        ) from None


def uses_tls(
    target: str, ca_cert: str | None, insecure: bool, client_cert: str | None = None
) -> bool:
    """Whether ``open_channel`` speaks TLS for these settings."""
    return bool(ca_cert or client_cert or not (insecure or is_loopback(target)))


#: Words in gRPC's connect failures (UNAVAILABLE details) that mean the TLS handshake,
#: not the network, failed; matched case-insensitively.
_HANDSHAKE = ("handshake", "certificate", "ssl", "tls")


def explain_connect_failure(
    details: str, target: str, ca_cert: str | None, tls: bool
) -> str | None:
    """One line naming the cause and the fix when gRPC's UNAVAILABLE ``details`` say the
    connection failed while it was set up (TLS mismatch, untrusted certificate, wrong
    name); None when they say something else (e.g. connection refused)."""
    text = details.lower()
    host = split_target(target)[0]
    if "hostname verification" in text:
        return (
            f"the collector's certificate does not name {host}: connect with a name the "
            "certificate lists (see doctor's tls check) or reissue the certificate"
        )
    if tls and any(w in text for w in _HANDSHAKE):
        if "wrong_version_number" in text:
            return (
                f"{target} does not speak TLS: check the port, or use --insecure if this "
                "collector serves plaintext on purpose"
            )
        if ca_cert is None:
            return (
                "the collector's certificate is not trusted by this system: give the "
                "fleet's CA certificate with --ca-cert FILE"
            )
        return (
            f"the collector's certificate is not signed by --ca-cert {ca_cert}: give the "
            "CA certificate that issued the collector's certificate"
        )
    if not tls and "socket closed" in text:
        return (
            f"{target} closed the plaintext connection; it probably requires TLS: give the "
            "fleet's CA certificate with --ca-cert FILE"
        )
    return None


def open_channel(
    target: str,
    ca_cert: str | None = None,
    insecure: bool = False,
    client_cert: str | None = None,
    client_key: str | None = None,
) -> grpc.Channel:
    """TLS when a CA is given (with a client certificate for mTLS), plaintext only to
    loopback or when ``insecure``, otherwise TLS against the system's roots.

    Errors: ConfigError for an unreadable file, a CA file that is not PEM, or a client
    certificate without its key."""
    split_target(target)
    if bool(client_cert) != bool(client_key):
        raise ConfigError("--client-cert and --client-key go together")
    if uses_tls(target, ca_cert, insecure, client_cert):
        roots = _read(ca_cert, "CA certificate") if ca_cert else None
        if ca_cert and roots is not None:
            _check_pem_ca(roots, ca_cert)
        creds = grpc.ssl_channel_credentials(
            root_certificates=roots,
            private_key=_read(client_key, "client key") if client_key else None,
            certificate_chain=_read(client_cert, "client certificate") if client_cert else None,
        )
        return grpc.secure_channel(
            target, creds, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip
        )
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip)
