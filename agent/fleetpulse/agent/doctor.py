"""``fleetpulse-agent doctor``: why this agent can or cannot report, one line per check.

Each line is ``OK <check>: <detail>`` or ``FAIL <check>: <what> — fix: <how>``. Every
network and OS boundary is a field of ``Probes`` with the real one as default.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil

from fleetpulse.agent.config import CONFIG, CREDENTIALS, AgentConfig, Credentials
from fleetpulse.agent.errors import AgentError, PingError
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.agent.sources.handover import FOLDER
from fleetpulse.agent.transport import open_channel, split_target
from fleetpulse.contract import serde
from fleetpulse.contract.address import is_loopback
from fleetpulse.contract.records import DeviceFacts
from fleetpulse.v1 import telemetry_pb2 as pb
from fleetpulse.v1 import telemetry_pb2_grpc as pb_grpc

MAX_SKEW_SECONDS = 60.0
REFUSED_CODES = ("UNAUTHENTICATED", "PERMISSION_DENIED")

#: The facts ``doctor`` says are known or unknown (os_facts keys besides "os").
FACT_NAMES = (
    "os_version",
    "machine_id",
    "hardware_id",
    "form_factor",
    "manufacturer",
    "model",
    "system_disk",
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"OK {self.name}: {self.detail}"
        return f"FAIL {self.name}: {self.detail} — fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class Pong:
    server_time: float  # the collector's clock, moved forward by half the round trip
    round_trip: float


def ping(
    creds: Credentials,
    facts: DeviceFacts,
    deadline: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> Pong:
    """An authenticated report with no records: proves the credential, gives server time."""
    auth = (("authorization", f"Device {creds.device_secret}"),)
    request = serde.report_request(creds.device_id, facts, [], clock())
    with open_channel(
        creds.collector, creds.ca_cert, creds.insecure, creds.client_cert, creds.client_key
    ) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        sent = clock()
        try:
            resp: pb.ReportResponse = stub.Report(request, timeout=deadline, metadata=auth)
        except grpc.RpcError as err:
            raise PingError(err.code().name, str(err.details())) from None
        rtt = clock() - sent
    return Pong(resp.server_time + rtt / 2, rtt)


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def tcp_connect(host: str, port: int, timeout: float) -> float:
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout):
        return time.monotonic() - start


def tls_handshake(host: str, port: int, creds: Credentials, timeout: float) -> str:
    """Handshakes as the agent would (its CA, its client certificate, ALPN h2)."""
    ctx = ssl.create_default_context(cafile=creds.ca_cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if creds.client_cert and creds.client_key:
        ctx.load_cert_chain(creds.client_cert, creds.client_key)
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname=host) as tls,
    ):
        cert = tls.getpeercert() or {}
        subject = dict(x[0] for x in cert.get("subject", ()))  # type: ignore[misc]
        until = cert.get("notAfter")
        ends = ""
        if isinstance(until, str):
            when = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(until), datetime.UTC)
            ends = f", valid until {when:%Y-%m-%d}"
        return f"{tls.version()}, certificate CN={subject.get('commonName', '?')}{ends}"


@dataclass
class Probes:
    """The boundaries doctor crosses; tests replace any of them."""

    resolve: Callable[[str, int], list[str]] = resolve
    connect: Callable[[str, int, float], float] = tcp_connect
    handshake: Callable[[str, int, Credentials, float], str] = tls_handshake
    ping: Callable[[Credentials, DeviceFacts], Pong] = ping
    clock: Callable[[], float] = time.time
    env: Callable[[Path], Env] = field(default=lambda sd: Env(state_dir=str(sd)))
    posix: bool = os.name == "posix"
    timeout: float = 5.0


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_config(path: Path) -> Check:
    try:
        AgentConfig.load(path)
    except AgentError as exc:
        return Check(
            "config", False, str(exc), f"correct or delete {path} (every setting has a default)"
        )
    if not path.exists():
        return Check("config", True, f"{path} absent: defaults")
    return Check("config", True, f"{path} readable")


def check_state_dir(state_dir: Path, posix: bool) -> list[Check]:
    if not state_dir.is_dir():
        return [
            Check(
                "state-dir",
                False,
                f"{state_dir} does not exist",
                "run 'fleetpulse-agent install' (or enroll) to create it",
            )
        ]
    if not posix:
        return [Check("state-dir", True, f"{state_dir} (permissions are ACLs: not checked)")]
    out: list[Check] = []
    mode = _mode(state_dir)
    if mode & 0o002:
        out.append(
            Check(
                "state-dir",
                False,
                f"{state_dir} is world-writable (mode {mode:04o})",
                f"chmod 755 {state_dir}",
            )
        )
    else:
        out.append(Check("state-dir", True, f"{state_dir} mode {mode:04o}, not world-writable"))
    ready = state_dir / "ready"
    if ready.is_dir():
        rmode = _mode(ready)
        if rmode & 0o002 and not rmode & stat.S_ISVTX:
            out.append(
                Check(
                    "ready-dir",
                    False,
                    f"{ready} is world-writable without the sticky bit (mode {rmode:04o})",
                    f"chmod 1777 {ready}",
                )
            )
        else:
            out.append(Check("ready-dir", True, f"{ready} mode {rmode:04o}"))
    return out


def load_credentials(state_dir: Path, posix: bool) -> tuple[Check, Credentials | None]:
    path = state_dir / CREDENTIALS
    try:
        creds = Credentials.load(state_dir)
    except AgentError as exc:
        return Check(
            "credentials",
            False,
            str(exc),
            "run 'fleetpulse-agent install --collector HOST:PORT --token-file FILE'",
        ), None
    if posix and _mode(path) & 0o077:
        return Check(
            "credentials",
            False,
            f"{path} is readable by others (mode {_mode(path):04o})",
            f"chmod 600 {path}",
        ), creds
    mode = f", mode {_mode(path):04o}" if posix else ""
    return Check(
        "credentials",
        True,
        f"device {creds.device_id}, site {creds.site}, collector {creds.collector}{mode}",
    ), creds


def uses_tls(creds: Credentials) -> bool:
    """The same rule as fleetpulse.agent.transport.open_channel."""
    return bool(
        creds.ca_cert or creds.client_cert or not (creds.insecure or is_loopback(creds.collector))
    )


def network_checks(creds: Credentials, facts: DeviceFacts, probes: Probes) -> list[Check]:
    out: list[Check] = []
    try:
        host, port = split_target(creds.collector)
    except AgentError as exc:
        return [Check("collector", False, str(exc), "re-enroll with --collector HOST:PORT")]
    target = f"{host}:{port}"
    try:
        ipaddress.ip_address(host)
        out.append(Check("dns", True, f"{host} is an address (no lookup)"))
    except ValueError:
        try:
            addrs = probes.resolve(host, port)
        except OSError as exc:
            out.append(
                Check(
                    "dns",
                    False,
                    f"cannot resolve {host} ({_why(exc)})",
                    "check the collector's name and this machine's DNS servers",
                )
            )
            return out
        out.append(Check("dns", True, f"{host} resolves to {', '.join(addrs[:4])}"))
    try:
        took = probes.connect(host, port, probes.timeout)
    except OSError as exc:
        out.append(
            Check(
                "tcp",
                False,
                f"cannot connect to {target} ({_why(exc)})",
                "start the collector or check the address/firewall",
            )
        )
        return out
    out.append(Check("tcp", True, f"connected to {target} in {took * 1000:.1f} ms"))
    if uses_tls(creds):
        try:
            shown = probes.handshake(host, port, creds, probes.timeout)
        except (OSError, ssl.SSLError, ValueError) as exc:
            out.append(
                Check(
                    "tls",
                    False,
                    f"handshake with {target} failed ({_why(exc)})",
                    "give the fleet's CA with --ca-cert and check that the collector's "
                    f"certificate names {host}",
                )
            )
            return out
        out.append(Check("tls", True, shown))
    else:
        why = "forced with --insecure" if creds.insecure else "to a loopback collector"
        out.append(Check("tls", True, f"not used (plaintext {why})"))
    try:
        pong = probes.ping(creds, facts)
    except (PingError, AgentError) as exc:
        code = getattr(exc, "code", "")
        fix = (
            "this device was revoked or the collector's database replaced: run install "
            "again with a new token"
            if code in REFUSED_CODES
            else "see the collector's log; check the collector address and TLS settings"
        )
        out.append(Check("credential", False, f"collector refused an empty report ({exc})", fix))
        return out
    out.append(
        Check(
            "credential",
            True,
            f"device {creds.device_id} authenticated (round trip {pong.round_trip * 1000:.1f} ms)",
        )
    )
    skew = probes.clock() - pong.server_time
    side = "ahead of" if skew >= 0 else "behind"
    shown_skew = f"{abs(skew):.1f} s {side} the collector"
    if abs(skew) > MAX_SKEW_SECONDS:
        out.append(
            Check(
                "clock",
                False,
                shown_skew,
                "turn on time synchronisation (timedatectl set-ntp true; "
                "w32tm /resync; sntp -sS time.apple.com)",
            )
        )
    else:
        out.append(Check("clock", True, shown_skew))
    return out


def foreground_detail(available: bool, state_dir: str | None, system: str = sys.platform) -> str:
    """Where foreground time comes from here. On Windows the service (session 0) sees no
    desktop: the per-user helper's files, waiting in the state folder, are its source."""
    if available:
        return "available"
    if system != "win32" or state_dir is None:
        return "unknown here (no X11 display, or no desktop session)"
    folder = Path(state_dir) / FOLDER
    waiting = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
    return (
        f"from the per-user helper (task \\fleetpulse\\foreground): "
        f"{waiting} file(s) waiting in {folder}"
    )


def source_checks(env: Env, now: float) -> list[Check]:
    """Which measurements this machine gives (absent ones are reported as unknown)."""
    from fleetpulse.agent import platform

    out: list[Check] = []
    try:
        boot = platform.boot_record(env)
        started = datetime.datetime.fromtimestamp(boot.boot_time, datetime.UTC)
        if boot.total_seconds is None:
            dur = "duration unknown on this machine"
        else:
            dur = f"duration {boot.total_seconds:.1f} s"
            if boot.phases:
                dur += f" ({', '.join(p.name for p in boot.phases)})"
        out.append(Check("source boot", True, f"booted {started:%Y-%m-%d %H:%M} UTC, {dur}"))
        signins = platform.signin_observations(env, boot.boot_time)
        out.append(
            Check(
                "source signin",
                True,
                f"{len(signins)} sign-in(s) seen this boot"
                if signins
                else "none seen this boot (unknown until someone signs in)",
            )
        )
        crashes = platform.crashes(env, now - 86400)
        out.append(Check("source crashes", True, f"{len(crashes)} in the last 24 h"))
        fg = platform.foreground_app(env) is not None
        out.append(Check("source foreground", True, foreground_detail(fg, env.state_dir)))
        facts = platform.os_facts(env)
        known = [k for k in FACT_NAMES if facts.get(k)]
        unknown = [k for k in FACT_NAMES if not facts.get(k)]
        detail = f"{facts.get('os', '?')}; known: {', '.join(known) or 'none'}"
        out.append(
            Check(
                "source facts",
                True,
                detail + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            )
        )
    except (AgentError, OSError, psutil.Error) as exc:
        out.append(
            Check(
                "sources",
                False,
                f"a measurement failed ({_why(exc)})",
                "run 'fleetpulse-agent once --json' to see which, and report it",
            )
        )
    if env.problems.total:
        out.append(
            Check(
                "sources",
                False,
                f"{env.problems.total} malformed input(s) skipped "
                f"({', '.join(sorted(env.problems.counts))})",
                "see the agent's log for each skipped input",
            )
        )
    return out


def diagnose(
    state_dir: Path, config: Path | None = None, probes: Probes | None = None
) -> list[Check]:
    probes = probes or Probes()
    checks = [check_config(config or state_dir / CONFIG)]
    checks += check_state_dir(state_dir, probes.posix)
    cred_check, creds = load_credentials(state_dir, probes.posix)
    checks.append(cred_check)
    env = probes.env(state_dir)
    if creds is not None:
        checks += network_checks(creds, device_facts(env), probes)
    checks += source_checks(env, probes.clock())
    return checks


def report(checks: list[Check], write: Callable[[str], object] = print) -> int:
    for c in checks:
        write(c.line())
    return 0 if all(c.ok for c in checks) else 1
