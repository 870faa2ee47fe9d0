"""Facts about this endpoint sent with every report; read once per agent start (the runner
keeps them), as hardware does not change while the agent runs."""

from __future__ import annotations

import socket

from fleetpulse.agent import __version__, platform
from fleetpulse.agent.platform.env import Env
from fleetpulse.contract.records import DeviceFacts


def device_facts(env: Env) -> DeviceFacts:
    try:
        os_facts = platform.os_facts(env)
    except Exception as exc:  # facts are best effort; never fatal
        env.problems.skip("facts", f"{type(exc).__name__}: {exc}")
        os_facts = {}
    try:
        boot_time: float | None = float(env.ps.boot_time())
    except Exception:  # psutil cannot tell on this platform
        boot_time = None
    return DeviceFacts(
        hostname=socket.gethostname(),
        os=os_facts.get("os", ""),
        os_version=os_facts.get("os_version", ""),
        agent_version=__version__,
        hardware_id=os_facts.get("hardware_id", ""),
        machine_id=os_facts.get("machine_id", ""),
        cpu_count=int(env.ps.cpu_count() or 0),
        memory_bytes=int(env.ps.virtual_memory().total),
        boot_time=boot_time,
        form_factor=os_facts.get("form_factor", ""),
        manufacturer=os_facts.get("manufacturer", ""),
        model=os_facts.get("model", ""),
        system_disk=os_facts.get("system_disk", ""),
    )
