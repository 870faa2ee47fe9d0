"""Agent configuration and enrolled identity, kept in the state directory.

<state_dir>/config.toml        operator settings (optional; see AgentConfig)
<state_dir>/credentials.json   device id, secret, user-hash key, collector (mode 0600)
<state_dir>/spool.db           the durable queue
<state_dir>/ready/<user>       session-ready markers
<state_dir>/foreground/        the per-user helper's foreground seconds (Windows)
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from fleetpulse.agent.errors import ConfigError
from fleetpulse.contract.setting_ranges import DEFAULT_REPORT_INTERVAL_SECONDS, check

CREDENTIALS = "credentials.json"
CONFIG = "config.toml"
#: Older names still read from config.toml, with the name they stand for.
ALIASES = {"interval_seconds": "report_interval_seconds"}


def default_state_dir() -> Path:
    env = os.environ.get("FLEETPULSE_STATE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "fleetpulse"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/fleetpulse")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fleetpulse"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Operator settings; every field may be set in config.toml.

    Each value must lie in its range in fleetpulse.contract.setting_ranges.RANGES (the same
    names and ranges as the collector's central settings); ConfigError names the first that
    does not.
    ``report_interval_seconds`` may also be written under its older name
    ``interval_seconds``."""

    report_interval_seconds: float = float(DEFAULT_REPORT_INTERVAL_SECONDS)
    spool_max_bytes: int = 50 * 1024 * 1024
    spool_max_age_seconds: float = 30 * 86400.0
    batch_records: int = 500
    deadline_seconds: float = 10.0
    responsive_cpu_percent: float = 50.0
    responsive_quiet_seconds: float = 2.0
    responsive_max_wait_seconds: float = 600.0
    app_top_n: int = 0  # 0 = every executable (the collector caps label cardinality)
    boot_settle_seconds: float = 900.0  # wait for late boot-performance events

    def __post_init__(self) -> None:
        for f in fields(self):
            if problem := check(f.name, getattr(self, f.name)):
                raise ConfigError(problem)

    @classmethod
    def load(cls, path: Path | None) -> AgentConfig:
        """The settings of ``path`` over the defaults (defaults when it does not exist).

        Raises ConfigError (one line, naming the file) for unreadable TOML, an unknown
        setting, a non-number or a value outside its range."""
        if path is None or not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        for old, new in ALIASES.items():
            if old in data and new in data:
                raise ConfigError(f"{path}: set {new} or {old} (its older name), not both")
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in data if ALIASES.get(k, k) not in known)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s): {', '.join(unknown)}")
        defaults = cls()
        values: dict[str, Any] = {}
        for written, value in data.items():
            key = ALIASES.get(written, written)
            if problem := check(key, value):
                raise ConfigError(f"{path}: {written}{problem.removeprefix(key)}")
            values[key] = type(getattr(defaults, key))(value)
        return replace(defaults, **values)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The enrolled identity. The secret file is readable by its owner only."""

    device_id: str
    device_secret: str
    collector: str
    site: str
    user_hash_key: str  # hex
    ca_cert: str | None = None
    insecure: bool = False
    client_cert: str | None = None  # mTLS
    client_key: str | None = None

    def save(self, state_dir: Path) -> Path:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / CREDENTIALS
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, state_dir: Path) -> Credentials:
        path = state_dir / CREDENTIALS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise ConfigError(
                f"not enrolled: {path} does not exist (run 'fleetpulse-agent enroll')"
            ) from None
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
