"""Idempotent install and uninstall: state directory, config, enrollment, service definitions.

Running ``install`` again with the same arguments changes nothing: files are rewritten only
when their content differs, enrollment is skipped while the stored credential still
authenticates at the same collector, and the service is only made sure to be running.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from fleetpulse.agent import sender as sender_mod
from fleetpulse.agent.config import CONFIG, AgentConfig, Credentials
from fleetpulse.agent.doctor import REFUSED_CODES, Pong, ping
from fleetpulse.agent.errors import AgentError, ConfigError, EnrollmentError, PingError
from fleetpulse.agent.install import launchd, systemd, windows
from fleetpulse.agent.install.commands import Runner, Step, run_steps
from fleetpulse.agent.install.layout import Layout, default_root
from fleetpulse.agent.install.program import (
    DIGEST,
    LAUNCHER,
    SITE,
    Program,
    check_fixed_path,
    console_program,
    launcher_program,
    running_artifact,
    system_python,
    unpack,
)
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.agent.transport import split_target
from fleetpulse.contract.records import DeviceFacts

# exit codes of install/uninstall (documented in docs/deployment.md)
EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_ENROLLMENT_FAILED = 2
EXIT_SERVICE_FAILED = 3

Enroll = Callable[..., sender_mod.Enrollment]
Ping = Callable[[Credentials, DeviceFacts], Pong]


@dataclass(frozen=True, slots=True)
class Options:
    collector: str
    token: str
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    site: str | None = None
    insecure: bool = False
    start: bool = True


@dataclass
class Outcome:
    changes: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    device_id: str = ""
    site: str = ""
    enrolled: bool = False


@dataclass
class Manifest:
    """What install created outside the state directory, so uninstall removes only that."""

    created_dirs: list[str] = field(default_factory=list)
    #: fingerprint of what the service manager last accepted: a rerun after a failed
    #: systemctl/schtasks/launchctl step redoes the steps even though no file changes
    applied: str = ""

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls([str(d) for d in data.get("created_dirs", [])], str(data.get("applied")))
        except (OSError, ValueError, AttributeError):
            return cls()

    def text(self) -> str:
        data = {"created_dirs": sorted(set(self.created_dirs)), "applied": self.applied}
        return json.dumps(data, indent=2) + "\n"


def _fingerprint(layout: Layout, files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"(absent)")
    return h.hexdigest()


def config_template() -> str:
    lines = [
        "# fleetpulse agent settings, written once by 'fleetpulse-agent install' and then",
        "# left alone. Every setting is optional; uncomment one to change its default.",
    ]
    defaults = AgentConfig()
    lines += [f"# {f.name} = {getattr(defaults, f.name)!r}" for f in fields(AgentConfig)]
    return "\n".join(lines) + "\n"


class _Writer:
    """Writes files and directories only when they differ, noting what it changed."""

    def __init__(self, layout: Layout, manifest: Manifest, outcome: Outcome) -> None:
        self.layout = layout
        self.manifest = manifest
        self.outcome = outcome
        self.posix = layout.system != "windows" and os.name == "posix"

    def mkdir(self, path: Path, mode: int) -> None:
        missing = [p for p in [path, *path.parents] if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        for p in missing:
            self.manifest.created_dirs.append(str(p))
            self.outcome.changes.append(f"created {p}")
        if self.posix and stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
            if path not in missing:
                self.outcome.changes.append(f"mode {mode:04o} on {path}")

    def file(self, path: Path, data: bytes, mode: int = 0o644, note: bool = True) -> bool:
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if same and (not self.posix or stat.S_IMODE(path.stat().st_mode) == mode):
            return False
        if not path.parent.exists():
            self.mkdir(path.parent, 0o755)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if self.posix:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
        if note:
            self.outcome.changes.append(f"wrote {path}")
        return True


def _read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _check_rights(layout: Layout) -> None:
    if layout.root != default_root(layout.system).absolute():
        return
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise ConfigError("install writes system directories: run it as root (or give --root DIR)")


def _enrollment(
    opts: Options,
    layout: Layout,
    tls: dict[str, str | None],
    facts: DeviceFacts,
    enroll: Enroll,
    check: Ping,
    outcome: Outcome,
) -> None:
    state = layout.state_dir
    try:
        existing: Credentials | None = Credentials.load(state)
    except AgentError:
        existing = None
    if (
        existing is not None
        and existing.collector == opts.collector
        and (opts.site is None or existing.site == opts.site)
    ):
        wanted = replace(
            existing,
            insecure=opts.insecure,
            ca_cert=tls["ca_cert"],
            client_cert=tls["client_cert"],
            client_key=tls["client_key"],
        )
        try:
            check(wanted, facts)
            valid = True
        except PingError as exc:
            # refused: revoked or unknown here; anything else (down, unreachable) says
            # nothing against the credential, so it is kept
            valid = exc.code not in REFUSED_CODES
        if valid:
            if wanted != existing:
                wanted.save(state)
                outcome.changes.append("updated the credential's connection settings")
            outcome.device_id, outcome.site = wanted.device_id, wanted.site
            return
    # with --site the collector refuses a token of another site before enrolling anything
    got = enroll(
        opts.collector,
        opts.token,
        facts,
        tls["ca_cert"],
        opts.insecure,
        client_cert=tls["client_cert"],
        client_key=tls["client_key"],
        expected_site=opts.site,
    )
    if opts.site is not None and got.site != opts.site:
        # a collector that predates the check enrolled it anyway: keep no credential
        raise EnrollmentError(
            f"the token enrolled this device into site {got.site!r}, not {opts.site!r}: "
            f"no credential kept; revoke device {got.device_id} and use a token of that site"
        )
    Credentials(
        device_id=got.device_id,
        device_secret=got.device_secret,
        collector=opts.collector,
        site=got.site,
        user_hash_key=got.user_hash_key.hex(),
        insecure=opts.insecure,
        **tls,
    ).save(state)
    outcome.changes.append(f"enrolled as {got.device_id} (site {got.site})")
    outcome.device_id, outcome.site, outcome.enrolled = got.device_id, got.site, True


def install(
    opts: Options,
    layout: Layout,
    runner: Runner,
    program: Program | None = None,
    artifact: Path | None = None,
    enroll: Enroll = sender_mod.enroll,
    check: Ping = ping,
) -> Outcome:
    """Installs or brings an installation up to date. Raises ConfigError (bad input),
    EnrollmentError, or ServiceError (all from fleetpulse.agent.errors)."""
    split_target(opts.collector)
    if bool(opts.client_cert) != bool(opts.client_key):
        raise ConfigError("--client-cert and --client-key go together")
    inputs = {
        "ca.pem": (opts.ca_cert, "CA certificate", 0o644),
        "client.pem": (opts.client_cert, "client certificate", 0o644),
        "client.key": (opts.client_key, "client key", 0o600),
    }
    material = {
        name: (_read_input(p, what), mode)
        for name, (p, what, mode) in inputs.items()
        if p is not None
    }
    _check_rights(layout)
    if program is None:
        artifact = artifact or running_artifact()
        if layout.system == "linux" and artifact is None:
            # the unit runs this path as root for as long as the machine is installed
            check_fixed_path(console_program().argv[0])

    outcome = Outcome()
    manifest = Manifest.load(layout.manifest)
    w = _Writer(layout, manifest, outcome)
    state = layout.state_dir
    w.mkdir(state, 0o755)
    w.mkdir(layout.ready_dir, 0o1777)  # each user's session-ready marker; sticky
    if layout.system == "windows":
        w.mkdir(layout.foreground_dir, 0o1777)  # each session's helper files; like ready/
    for name, (data, mode) in material.items():
        w.file(state / name, data, mode)
    tls: dict[str, str | None] = {
        "ca_cert": str(state / "ca.pem") if opts.ca_cert else None,
        "client_cert": str(state / "client.pem") if opts.client_cert else None,
        "client_key": str(state / "client.key") if opts.client_key else None,
    }
    if not (state / CONFIG).exists():
        w.file(state / CONFIG, config_template().encode())

    if program is None:
        if artifact is not None:
            w.mkdir(layout.program_dir, 0o755)
            if unpack(artifact, layout.program_dir):
                outcome.changes.append(f"unpacked {artifact.name} into {layout.program_dir}")
            python = system_python() if layout.system == "linux" else None
            program = launcher_program(layout.program_dir, python)
        else:
            program = console_program()

    facts = device_facts(Env(state_dir=str(state)))
    _enrollment(opts, layout, tls, facts, enroll, check, outcome)

    service_changed = _write_service(layout, program, w)
    state_files = [state / n for n in ("credentials.json", "ca.pem", "client.pem", "client.key")]
    applied = _fingerprint(
        layout, [*layout.service_files(), *state_files, layout.program_dir / DIGEST]
    )
    pending = manifest.applied != applied
    steps = _steps(layout, bool(outcome.changes) or pending, service_changed or pending, opts.start)
    w.file(layout.manifest, manifest.text().encode(), note=False)
    outcome.steps = steps
    run_steps(steps, runner)
    manifest.applied = applied
    w.file(layout.manifest, manifest.text().encode(), note=False)
    return outcome


def _write_service(layout: Layout, program: Program, w: _Writer) -> bool:
    state = layout.state_dir
    if layout.system == "linux":
        unit = w.file(layout.unit, systemd.unit_text(program.argv, state).encode())
        auto = w.file(layout.autostart, systemd.autostart_text(program.argv, state).encode())
        return unit or auto
    if layout.system == "windows":
        a = w.file(
            layout.agent_task_xml, windows.encode_task(windows.agent_task_xml(program.argv, state))
        )
        s = w.file(
            layout.session_task_xml,
            windows.encode_task(windows.session_task_xml(program.gui_argv, state)),
        )
        f = w.file(
            layout.foreground_task_xml,
            windows.encode_task(windows.foreground_task_xml(program.gui_argv, state)),
        )
        return a or s or f
    w.mkdir(layout.log_dir, 0o755)
    d = w.file(layout.launch_daemon, launchd.daemon_plist(program.argv, state, layout.log_dir))
    a = w.file(layout.launch_agent, launchd.agent_plist(program.argv, state))
    return d or a


def _steps(layout: Layout, changed: bool, reload: bool, start: bool) -> list[Step]:
    """``changed``: anything the running agent uses changed (restart it); ``reload``: the
    service definitions changed (or were never accepted) and must be (re)registered."""
    if layout.system == "linux":
        return systemd.start_steps(changed, reload, start)
    if layout.system == "windows":
        steps = []
        if reload:
            steps += windows.permission_steps(
                layout.state_dir, layout.ready_dir, layout.foreground_dir
            )
            steps += windows.register_steps(
                layout.agent_task_xml, layout.session_task_xml, layout.foreground_task_xml
            )
        return steps + windows.start_steps(changed, start)
    return launchd.start_steps(layout.launch_daemon, changed or reload, start)


def uninstall(layout: Layout, runner: Runner, keep_data: bool = False) -> list[str]:
    """Stops and deregisters the service, then removes what install created. Returns the
    paths removed. With ``keep_data`` the state directory (credential, spool) stays."""
    _check_rights(layout)
    manifest = Manifest.load(layout.manifest)
    registered = [p for p in layout.service_files() if p.exists()]
    if registered:
        if layout.system == "linux":
            run_steps(systemd.stop_steps(), runner)
        elif layout.system == "windows":
            run_steps(windows.remove_steps(), runner)
        else:
            run_steps(launchd.remove_steps(), runner)
    removed: list[str] = []

    def rm(path: Path) -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            return
        removed.append(str(path))

    for path in registered:
        rm(path)
    for name in (SITE, LAUNCHER, DIGEST, f"{SITE}.new", f"{SITE}.old"):
        rm(layout.program_dir / name)
    if layout.system == "macos":
        rm(layout.log_dir / "agent.log")
    if keep_data:
        rm(layout.manifest)
    else:
        rm(layout.state_dir)
    if registered and layout.system == "linux":
        run_steps(systemd.after_removal_steps(), runner)
    for d in sorted(set(manifest.created_dirs), key=lambda p: len(Path(p).parts), reverse=True):
        path = Path(d)
        try:
            path.rmdir()
            removed.append(d)
        except OSError:
            pass  # gone already, or holds something install did not put there
    return removed
