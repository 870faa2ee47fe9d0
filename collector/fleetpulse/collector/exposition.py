"""Serves /metrics over HTTP or HTTPS, optionally behind basic auth with bcrypt hashes
(the ``basic_auth_users`` convention of Prometheus exporters)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import bcrypt
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from fleetpulse.collector.errors import ConfigError
from fleetpulse.collector.per_device import Rendered

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def load_users(path: Path) -> dict[str, bytes]:
    """``user:bcrypt-hash`` per line (blank lines and ``#`` comments allowed)."""
    users: dict[str, bytes] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$2"):
            raise ConfigError(f"{path}:{n}: expected user:bcrypt-hash")
        users[user] = hashed.encode("ascii")
    if not users:
        raise ConfigError(f"{path}: no users")
    return users


def metrics_app(registry: CollectorRegistry, extra: Callable[[], Rendered]) -> App:
    """The registry rendered now (the ingest tallies, auth and retention metrics), followed
    by the text pre-rendered at the last fleet-state refresh (fleet-state gauges, per-device
    gauges).
    With gzip, the live part is compressed fast (level 1) and the pre-compressed part is
    appended as a second gzip member."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = generate_latest(registry)
        more = extra()
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            out = gzip.compress(body, compresslevel=1) + more.gzipped
            headers.append(("Content-Encoding", "gzip"))
        else:
            out = body + more.text
        headers.append(("Content-Length", str(len(out))))
        start_response("200 OK", headers)
        return [out]

    return app


def basic_auth(app: App, users: dict[str, bytes]) -> App:
    # bcrypt is slow on purpose; remember credentials already proven, keyed by a digest.
    proven: set[bytes] = set()
    lock = threading.Lock()

    def check(header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(hashed + b"\0" + password.encode("utf-8")).digest()
        with lock:
            if key in proven:
                return True
        if not bcrypt.checkpw(password.encode("utf-8"), hashed):
            return False
        with lock:
            proven.add(key)
        return True

    def guarded(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if check(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("WWW-Authenticate", 'Basic realm="fleetpulse"'), ("Content-Type", "text/plain")],
        )
        return [b"unauthorized\n"]

    return guarded


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_metrics(
    registry: CollectorRegistry,
    host: str,
    port: int,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    users: dict[str, bytes] | None = None,
    extra: Callable[[], Rendered] = Rendered,
) -> ThreadingWSGIServer:
    """Starts the server in a daemon thread and returns it (``shutdown()`` stops it)."""
    app: App = metrics_app(registry, extra)
    if users:
        app = basic_auth(app, users)
    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    if certfile and keyfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(certfile), str(keyfile))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load metrics TLS files: {exc}") from exc
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="fleetpulse-metrics", daemon=True).start()
    return server
