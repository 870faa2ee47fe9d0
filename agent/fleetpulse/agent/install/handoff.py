"""The settings an MSI installation hands to the agent's first start.

``msiexec /i fleetpulse-agent.msi COLLECTOR=... TOKENFILE=...`` writes its public
properties into ``STATE\\enroll.ini`` (the MSI IniFile table, section ``[enroll]``: keys
``collector``, ``token``, ``token_file``, ``ca_cert``, ``client_cert``, ``client_key``,
``insecure``) in the state folder, which only SYSTEM and Administrators may read. The
Windows service calls :func:`apply_handoff` at each start: it copies the certificates in,
enrolls when the device holds no credential for that collector, then removes the token
from ``enroll.ini`` and deletes the token file, so that no token stays on disk. Nothing of
this is ever on a command line.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from fleetpulse.agent import sender as sender_mod
from fleetpulse.agent.config import CONFIG, Credentials
from fleetpulse.agent.errors import AgentError, ConfigError
from fleetpulse.agent.install.tokens import read_token
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.facts import device_facts
from fleetpulse.agent.transport import split_target

HANDOFF = "enroll.ini"
SECTION = "enroll"
SECRET_KEYS = ("token", "token_file")

#: a path as the installer wrote it -> where this process reads it (identity on Windows;
#: the tests map Wine's drive letters)
LocalPath = Callable[[str], Path]


@dataclass(frozen=True, slots=True)
class Handoff:
    """``enroll.ini`` as read; empty strings are absent properties."""

    collector: str = ""
    token: str = ""
    token_file: str = ""
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    #: None: INSECURE not given (an enrolled device keeps its setting)
    insecure: bool | None = None

    @classmethod
    def read(cls, path: Path) -> Handoff | None:
        """None when there is no ``enroll.ini``; ConfigError when it cannot be parsed."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        # WritePrivateProfileString writes the ANSI code page; an edited file may be UTF-8
        text = raw.decode("utf-8-sig") if _is_utf8(raw) else raw.decode("cp1252", "replace")
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
        if not parser.has_section(SECTION):
            return cls()
        got = {k: v.strip() for k, v in parser.items(SECTION)}
        flag = got.get("insecure", "").lower()
        insecure = None if flag == "" else flag in {"1", "yes", "true"}
        return cls(
            collector=got.get("collector", ""),
            token=got.get("token", ""),
            token_file=got.get("token_file", ""),
            ca_cert=got.get("ca_cert", ""),
            client_cert=got.get("client_cert", ""),
            client_key=got.get("client_key", ""),
            insecure=insecure,
        )


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def _copy_in(source: str, target: Path, local: LocalPath, what: str) -> str:
    try:
        data = local(source).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {source}: {exc.strerror or exc}") from None
    if not target.exists() or target.read_bytes() != data:
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return str(target)


def _forget_secrets(path: Path, got: Handoff, local: LocalPath) -> None:
    """Rewrites ``enroll.ini`` without the token lines and deletes the token file."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [ln for ln in lines if ln.split("=", 1)[0].strip().lower() not in SECRET_KEYS]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(kept) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    if got.token_file:
        with contextlib.suppress(FileNotFoundError):
            local(got.token_file).unlink()


def apply_handoff(
    state_dir: Path,
    enroll: Callable[..., sender_mod.Enrollment] = sender_mod.enroll,
    local: LocalPath = Path,
    config_template: Callable[[], str] | None = None,
) -> str | None:
    """Applies ``STATE/enroll.ini`` if there is one; returns what it did, or None.

    Enrolls only when ``credentials.json`` is absent or names another collector (an MSI
    upgrade or repair with the same COLLECTOR keeps the device's identity); then removes
    the token and the token file. Raises ConfigError (bad or missing settings: the token is
    kept for the next start) or EnrollmentError (refused or unreachable: likewise)."""
    path = state_dir / HANDOFF
    got = Handoff.read(path)
    if got is None:
        return None
    if config_template is not None and not (state_dir / CONFIG).exists():
        (state_dir / CONFIG).write_text(config_template(), encoding="utf-8")
    try:
        existing: Credentials | None = Credentials.load(state_dir)
    except AgentError:
        existing = None
    if not got.collector:
        if existing is None:
            if got.token or got.token_file:
                raise ConfigError(f"{path}: a token but no collector (COLLECTOR=HOST:PORT)")
            return None
        # reinstalled without COLLECTOR (an upgrade, a new CACERT): the enrolled one
        got = replace(got, collector=existing.collector)
    split_target(got.collector)
    if bool(got.client_cert) != bool(got.client_key):
        raise ConfigError(f"{path}: CLIENTCERT and CLIENTKEY go together")
    tls: dict[str, str | None] = {"ca_cert": None, "client_cert": None, "client_key": None}
    names = {"ca_cert": "ca.pem", "client_cert": "client.pem", "client_key": "client.key"}
    for key, name in names.items():
        source = getattr(got, key)
        if source:
            tls[key] = _copy_in(source, state_dir / name, local, key.replace("_", " "))
    if existing is not None and existing.collector == got.collector:
        # a property left out of a reinstall keeps the enrolled device's setting
        wanted = replace(
            existing,
            insecure=existing.insecure if got.insecure is None else got.insecure,
            ca_cert=tls["ca_cert"] or existing.ca_cert,
            client_cert=tls["client_cert"] or existing.client_cert,
            client_key=tls["client_key"] or existing.client_key,
        )
        if wanted != existing:
            wanted.save(state_dir)
        done = f"kept the credential of device {existing.device_id}"
    else:
        if got.token:
            token = got.token
        elif got.token_file:
            token = read_token(str(local(got.token_file)))
        else:
            raise ConfigError(f"{path}: not enrolled and no TOKEN or TOKENFILE given")
        facts = device_facts(Env(state_dir=str(state_dir)))
        new = enroll(
            got.collector,
            token,
            facts,
            tls["ca_cert"],
            bool(got.insecure),
            **{k: tls[k] for k in ("client_cert", "client_key")},
        )
        Credentials(
            device_id=new.device_id,
            device_secret=new.device_secret,
            collector=got.collector,
            site=new.site,
            user_hash_key=new.user_hash_key.hex(),
            insecure=bool(got.insecure),
            **tls,
        ).save(state_dir)
        done = f"enrolled as {new.device_id} (site {new.site})"
    if got.token or got.token_file:
        _forget_secrets(path, got, local)
    return done
