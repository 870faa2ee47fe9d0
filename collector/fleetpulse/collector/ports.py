"""Whether a listen address is free, asked before gRPC binds it.

grpcio binds with SO_REUSEPORT unless told otherwise (channel argument
``grpc.so_reuseport``), so a second server on a port in use used to start silently and
share the connections with the first (Linux socket(7): SO_REUSEPORT). The collector turns
that off; this check then gives the reason in one line, where gRPC's own failure is a
generic "Failed to bind" plus a core log line on stderr.
"""

from __future__ import annotations

import errno
import os
import socket

from fleetpulse.collector.errors import ConfigError


def check_free(host: str, port: int) -> None:
    """Binds (and releases) every address ``host`` resolves to on ``port``, as a listening
    server would: SO_REUSEADDR on POSIX (a port in TIME_WAIT is free), no SO_REUSEPORT.

    Port 0 (any free port) is always free. Raises ConfigError ``cannot listen on
    HOST:PORT: <reason>``; a port another socket listens on says "already in use"."""
    if port == 0:
        return
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {where}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
                sock.listen(1)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"cannot listen on {where}: address already in use (another "
                        "collector? instances that share a database each take their own port)"
                    ) from None
                raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
