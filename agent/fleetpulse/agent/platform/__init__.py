"""Measurement backends, one module per OS with identical function names, picked at import.

Every backend provides:

- ``boot_record(env) -> BootRecord``: the current boot, unknown parts left ``None``;
- ``signin_observations(env, boot_time) -> list[SigninObservation]``: sign-ins of this boot,
  with when and how each session ended where the OS says;
- ``crashes(env, since) -> list[Crash]``: application crashes since a time;
- ``foreground_app(env) -> str | None``: the foreground executable, ``None`` if not knowable;
- ``os_facts(env) -> dict[str, str]``: os, os_version, hardware_id, machine_id, form_factor,
  manufacturer, model, system_disk ("" where unknown).
"""

from __future__ import annotations

import sys

from fleetpulse.agent.platform.env import Env, Problems

if sys.platform.startswith("linux"):
    from fleetpulse.agent.platform import _linux as backend
elif sys.platform == "win32":
    from fleetpulse.agent.platform import _windows as backend  # type: ignore[no-redef]
elif sys.platform == "darwin":
    from fleetpulse.agent.platform import _macos as backend  # type: ignore[no-redef]
else:  # pragma: no cover - depends on the OS
    raise NotImplementedError(f"fleetpulse agent does not support {sys.platform}")

boot_record = backend.boot_record
signin_observations = backend.signin_observations
crashes = backend.crashes
foreground_app = backend.foreground_app
os_facts = backend.os_facts

__all__ = [
    "Env",
    "Problems",
    "boot_record",
    "crashes",
    "foreground_app",
    "os_facts",
    "signin_observations",
]
