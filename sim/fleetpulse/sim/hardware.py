"""Plausible hardware for simulated devices: the SMBIOS manufacturer and model strings real
fleets report, the system disk, RAM, and how much slower each model boots and signs in (old
desktops on spinning disks most), so the demo's by-model section and board have an answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class SimModel:
    manufacturer: str  # "" with model "": a board with placeholder SMBIOS strings
    model: str
    system_disk: str  # "ssd", "hdd", "" (unknown)
    memory_gib: int
    slowness: float  # factor on boot and (non-long-tail) sign-in durations
    weight: float  # share of the fleet


PC_MODELS = (
    SimModel("Dell Inc.", "Latitude 5440", "ssd", 16, 1.0, 0.28),
    SimModel("HP", "HP EliteBook 840 G8 Notebook PC", "ssd", 16, 1.0, 0.22),
    SimModel("LENOVO", "21AH00BQGE", "ssd", 16, 1.05, 0.14),  # a ThinkPad T14 Gen 3
    SimModel("Microsoft Corporation", "Surface Pro 7", "ssd", 8, 1.15, 0.06),
    SimModel("HP", "HP EliteDesk 800 G2 SFF", "hdd", 8, 1.9, 0.12),
    SimModel("Dell Inc.", "OptiPlex 7040", "hdd", 8, 1.7, 0.1),
    SimModel("", "", "", 8, 1.0, 0.04),
    SimModel("QEMU", "Standard PC (Q35 + ICH9, 2009)", "", 4, 1.1, 0.04),  # a VM: disk unknown
)
MAC_MODELS = (
    SimModel("Apple", "MacBookPro18,3", "", 16, 1.0, 0.7),
    SimModel("Apple", "MacBookAir10,1", "", 8, 1.0, 0.3),
)


def pick(rng: random.Random, os_name: str) -> SimModel:
    """A model for a device of ``os_name``, drawn from ``rng`` by the models' weights."""
    models = MAC_MODELS if os_name == "macos" else PC_MODELS
    return rng.choices(models, [m.weight for m in models])[0]
