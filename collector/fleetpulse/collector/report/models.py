"""The report's "by model" section: boot and sign-in times per hardware model, so that
"which models to replace first" has an answer.

A model is the (manufacturer, model) pair the agent read from SMBIOS (telemetry.proto
DeviceFacts 11-12), as stored on the device's row now. Devices whose model is unknown form
one "unknown" row. A model's figures cover the SLA sign-ins of the period (flagged ones out
unless --include-flagged, as in the rest of the report) and every boot, by event time, of
its devices; ``devices`` are those with a sign-in or a boot in the period.

Ordering: models with at least MIN_SIGNINS sign-ins of known duration are ranked, slowest
sign-in p95 first (ties: slower boot p95, then more devices); models with fewer, and virtual
machines (no hardware to replace: their SMBIOS strings name the hypervisor, see
``is_virtual``), are listed after them, unranked, most devices first; the unknown row comes
last.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleetpulse.collector.model import Hardware
from fleetpulse.collector.report import text as t
from fleetpulse.collector.report.data import percentile
from fleetpulse.collector.report.figures import LONG_SECONDS, SlaReport
from fleetpulse.collector.store.base import Store

MIN_SIGNINS = 20  # fewer sign-ins of known duration than this: too few to rank a model on
MAX_ROWS = 25  # rows shown; the section says how many models it leaves out
UNKNOWN = "unknown"
ORDERING = (
    f"Models with at least {MIN_SIGNINS} sign-ins of known duration are ranked, slowest"
    " sign-in p95 first (ties: slower boot p95, then more devices): replace from the top."
    f" Models with fewer sign-ins (too few to rank on) and virtual machines (rank 'VM':"
    " no hardware to replace) are listed after them, unranked; devices whose model is"
    " unknown come last."
)

#: What hypervisors write into the SMBIOS System Information strings of their guests
#: (manufacturer, product name), casefolded substrings: QEMU/KVM ("QEMU", "Standard PC
#: (Q35 + ICH9, 2009)", "KVM"), VMware ("VMware, Inc.", "VMware Virtual Platform",
#: "VMware7,1"), Hyper-V and Azure ("Microsoft Corporation", "Virtual Machine"),
#: VirtualBox ("innotek GmbH", "VirtualBox"), Xen ("Xen", "HVM domU"), Parallels
#: ("Parallels Virtual Platform"), and the clouds ("Amazon EC2", "Google Compute Engine").
VIRTUAL_MARKERS = (
    "qemu",
    "kvm",
    "vmware",
    "virtual machine",
    "virtualbox",
    "innotek",
    "xen",
    "hvm domu",
    "parallels",
    "amazon ec2",
    "google compute engine",
    "bochs",
)


def is_virtual(manufacturer: str | None, model: str | None) -> bool:
    """Whether a (manufacturer, model) pair names a virtual machine (VIRTUAL_MARKERS)."""
    words = f"{manufacturer or ''} {model or ''}".casefold()
    return any(marker in words for marker in VIRTUAL_MARKERS)


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """One model's devices, sign-ins and boots in the period. Durations in seconds;
    percentiles exact over the known durations (``report.data.percentile``)."""

    manufacturer: str | None  # None: unknown (the whole row is the unknown model)
    model: str | None
    devices: int  # with a sign-in or a boot in the period
    signins: int  # SLA sign-ins, known duration or not
    signins_known: int
    signin_p50: float | None
    signin_p95: float | None
    long: int  # sign-ins of 30 minutes or more
    boots: int
    boot_p50: float | None
    boot_p95: float | None
    devices_hdd: int  # of ``devices``, those whose system disk is a spinning disk
    devices_disk_known: int  # of ``devices``, those whose system disk is known
    ranked: bool  # at least MIN_SIGNINS sign-ins of known duration, and not virtual
    virtual: bool = False  # a virtual machine (is_virtual): listed, never ranked

    @property
    def label(self) -> str:
        """Manufacturer and model, the manufacturer once: HP's SMBIOS product names
        already start with "HP" ("HP EliteBook 840 G8 Notebook PC")."""
        if self.model is None:
            return UNKNOWN
        if not self.manufacturer or self.model.casefold().startswith(
            self.manufacturer.casefold() + " "
        ):
            return self.model
        return f"{self.manufacturer} {self.model}"

    @property
    def hdd_share(self) -> float | None:
        """Share of the devices with a known system disk that boot from an HDD."""
        return self.devices_hdd / self.devices_disk_known if self.devices_disk_known else None


@dataclass(frozen=True, slots=True)
class ModelSection:
    models: list[ModelFigures]  # every model, in the ORDERING
    min_signins: int = MIN_SIGNINS

    @property
    def shown(self) -> list[ModelFigures]:
        return self.models[:MAX_ROWS]

    @property
    def left_out(self) -> int:
        return max(0, len(self.models) - MAX_ROWS)


Key = tuple[str | None, str | None]


class Timed(Protocol):
    """A sign-in or a boot as by_model reads it (SigninEntry, BootTotal, SigninDuration)."""

    @property
    def device_id(self) -> str: ...
    @property
    def total_seconds(self) -> float | None: ...


def _key(hw: Hardware | None) -> Key:
    if hw is None or hw.model is None:
        return (None, None)
    return (hw.manufacturer, hw.model)


def model_figures(
    key: Key,
    devices: int,
    disks: tuple[int, int],
    signins: int,
    known: Sequence[float] | npt.NDArray[np.float64],
    boots: int,
    boot_known: Sequence[float] | npt.NDArray[np.float64],
) -> ModelFigures:
    """One model's figures from its counts (``disks``: its devices on an HDD, and those
    whose disk is known) and its known sign-in and boot durations, each ascending (a
    list, or an array: the percentiles are Python floats either way)."""
    virtual = is_virtual(*key)
    return ModelFigures(
        manufacturer=key[0],
        model=key[1],
        devices=devices,
        signins=signins,
        signins_known=len(known),
        signin_p50=_float(percentile(known, 50)),
        signin_p95=_float(percentile(known, 95)),
        long=len(known) - bisect_left(known, LONG_SECONDS),
        boots=boots,
        boot_p50=_float(percentile(boot_known, 50)),
        boot_p95=_float(percentile(boot_known, 95)),
        devices_hdd=disks[0],
        devices_disk_known=disks[1],
        ranked=key[1] is not None and not virtual and len(known) >= MIN_SIGNINS,
        virtual=virtual,
    )


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _figures(
    key: Key,
    devices: set[str],
    signins: list[float | None],
    boots: list[float | None],
    hardware: dict[str, Hardware],
) -> ModelFigures:
    known = sorted(t for t in signins if t is not None)
    boot_known = sorted(t for t in boots if t is not None)
    disks = [hardware[d].system_disk for d in devices if d in hardware]
    return model_figures(
        key,
        len(devices),
        (sum(1 for d in disks if d == "hdd"), sum(1 for d in disks if d is not None)),
        len(signins),
        known,
        len(boots),
        boot_known,
    )


def _order(m: ModelFigures) -> tuple[int, float, float, int, str]:
    if m.ranked:
        return (0, -(m.signin_p95 or 0.0), -(m.boot_p95 or -1.0), -m.devices, m.label)
    return (1 if m.model is not None else 2, 0.0, 0.0, -m.devices, m.label)


def by_model(
    hardware: dict[str, Hardware], signins: Iterable[Timed], boots: Iterable[Timed]
) -> ModelSection:
    """The section from the period's SLA sign-ins and boots and each device's hardware."""
    # per model: its devices, sign-in durations, boot durations (one pass, no allocation
    # per event: at 300,000 devices there are millions)
    per_model: dict[Key, tuple[set[str], tuple[list[float | None], list[float | None]]]] = {}
    for events, slot in ((signins, 0), (boots, 1)):
        for e in events:
            key = _key(hardware.get(e.device_id))
            entry = per_model.get(key)
            if entry is None:
                entry = per_model[key] = (set(), ([], []))
            entry[0].add(e.device_id)
            entry[1][slot].append(e.total_seconds)
    return section(_figures(k, devs, *times, hardware) for k, (devs, times) in per_model.items())


def section(models: Iterable[ModelFigures]) -> ModelSection:
    """The section of ``models`` (in the ORDERING; equal ones keep their order)."""
    return ModelSection(sorted(models, key=_order))


def model_section(store: Store, report: SlaReport, since: float, until: float) -> ModelSection:
    """The section of ``report`` (its SLA sign-ins) over ``[since, until)``."""
    sla = (s for s in report.signins if s.in_sla)
    return by_model(store.device_hardware(), sla, store.boots_between(since, until))


def model_table(section: ModelSection) -> tuple[list[str], list[list[str]]]:
    """Header and rows for people (md, html): the shown models in order."""
    header = [
        "rank",
        "model",
        "devices",
        "sign-ins",
        "sign-in p50",
        "sign-in p95",
        "≥ 30 min",
        "boots",
        "boot p50",
        "boot p95",
        "on HDD",
    ]
    rows: list[list[str]] = []
    rank = 0
    for m in section.shown:
        rank += m.ranked
        rows.append(
            [
                str(rank) if m.ranked else "VM" if m.virtual else "–",
                m.label,
                t.count(m.devices),
                t.count(m.signins),
                t.seconds(m.signin_p50),
                t.seconds(m.signin_p95),
                t.count(m.long),
                t.count(m.boots),
                t.seconds(m.boot_p50),
                t.seconds(m.boot_p95),
                t.share(m.hdd_share),
            ]
        )
    return header, rows


def model_notes(section: ModelSection) -> Sequence[str]:
    """The ordering rule, and how many models the table leaves out."""
    notes = [ORDERING]
    if section.left_out:
        notes.append(f"{section.left_out} more models are left out here (all are in the JSON).")
    return notes


def model_dicts(section: ModelSection) -> list[dict[str, object]]:
    """Every model, in order, for JSON (unknown stays null)."""
    return [
        {
            "manufacturer": m.manufacturer,
            "model": m.model,
            "ranked": m.ranked,
            "virtual": m.virtual,
            "devices": m.devices,
            "signins": m.signins,
            "signins_known_duration": m.signins_known,
            "signin_percentiles_seconds": {"p50": m.signin_p50, "p95": m.signin_p95},
            "signins_30min_or_more": m.long,
            "boots": m.boots,
            "boot_percentiles_seconds": {"p50": m.boot_p50, "p95": m.boot_p95},
            "devices_on_hdd": m.devices_hdd,
            "devices_disk_known": m.devices_disk_known,
            "share_on_hdd": m.hdd_share,
        }
        for m in section.models
    ]
