"""``HOST:PORT`` addresses, as both sides take them (``--collector``, ``--listen``).

IPv6 hosts are written in brackets (``[::1]:50051``, RFC 3986 section 3.2.2).
"""

from __future__ import annotations

import ipaddress


class AddressError(ValueError):
    """An address that is not ``HOST:PORT`` with a port in 0..65535."""


def is_loopback(target: str) -> bool:
    """Is the host of ``target`` ``localhost`` or a loopback address (127.0.0.0/8, ::1)?"""
    host = target.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_target(target: str) -> tuple[str, int]:
    """``"[::1]:50051"`` → ``("::1", 50051)``; raises AddressError otherwise."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise AddressError(f"address must be HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)
