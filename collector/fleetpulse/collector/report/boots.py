"""The report's boot section: the slowest boots and the fleet's top boot culprits.

Boots are selected by event time (``boot_time``). Culprits are what Windows records in the
Microsoft-Windows-Diagnostics-Performance/Operational log, events 101-110 (an application,
driver, service, ... that made a boot slower than usual), with the time it added
(``DegradationTime``, else ``TotalTime``), as the agent sent them; Linux boots have none.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetpulse.collector.model import BootRow
from fleetpulse.collector.report.data import percentile
from fleetpulse.collector.store.base import Store

SLOWEST = 10
TOP_CULPRITS = 10

CULPRIT_KIND_WORDS = {  # Diagnostics-Performance event id -> what slowed the boot
    "application": "an application (event 101)",
    "driver": "a driver (event 102)",
    "service": "a service (event 103)",
    "core_component": "a Windows core component (event 104)",
    "foreground_prefetch": "foreground prefetching (event 105)",
    "background_prefetch": "background prefetching (event 106)",
    "machine_policy": "machine group policy (event 107)",
    "user_policy": "user group policy (event 108)",
    "device": "a device (event 109)",
    "session_manager": "the session manager (event 110)",
}


@dataclass(frozen=True, slots=True)
class CulpritFigures:
    """One culprit (name and kind) over the period's boots."""

    name: str
    kind: str
    boots: int  # boots it slowed
    devices: int  # distinct devices
    total_seconds: float  # the time it added, summed over those boots
    median_seconds: float  # per boot


@dataclass(frozen=True, slots=True)
class BootFigures:
    boots: int  # every boot in the period
    unknown: int  # of which the duration is unknown (not counted as 0)
    p50: float | None  # exact percentiles of the known durations, seconds
    p95: float | None
    with_culprits: int  # boots for which the OS named at least one culprit
    slowest: list[BootRow]  # up to SLOWEST, slowest first
    culprits: list[CulpritFigures]  # up to TOP_CULPRITS, most added time first

    @property
    def known(self) -> int:
        return self.boots - self.unknown


def boot_figures(store: Store, since: float, until: float) -> BootFigures:
    """The boots that happened in [since, until)."""
    rows = store.boot_details_between(since, until)
    known = sorted(r.total_seconds for r in rows if r.total_seconds is not None)
    slowest = sorted(
        (r for r in rows if r.total_seconds is not None),
        key=lambda r: (-(r.total_seconds or 0.0), r.boot_time),
    )[:SLOWEST]
    found: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for r in rows:
        for name, kind, seconds in r.culprits:
            found.setdefault((name, kind), []).append((r.device_id, seconds))
    culprits = [
        CulpritFigures(
            name=name,
            kind=kind,
            boots=len(hits),
            devices=len({d for d, _ in hits}),
            total_seconds=sum(s for _, s in hits),
            median_seconds=percentile(sorted(s for _, s in hits), 50) or 0.0,
        )
        for (name, kind), hits in found.items()
    ]
    culprits.sort(key=lambda c: (-c.total_seconds, c.name))
    return BootFigures(
        boots=len(rows),
        unknown=len(rows) - len(known),
        p50=percentile(known, 50),
        p95=percentile(known, 95),
        with_culprits=sum(1 for r in rows if r.culprits),
        slowest=slowest,
        culprits=culprits[:TOP_CULPRITS],
    )
