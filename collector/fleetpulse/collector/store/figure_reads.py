"""The one read behind the every-sixth-refresh figures (window figures, by-model figures),
as numpy columns: devices coded 0 .. n - 1, and each sign-in and boot as its device's code,
its event time and its duration.

Columns instead of a Python object per row: at 300,000 devices the window holds ~585,000
sign-ins and ~285,000 boots, and the figures are computed over whole columns (grouped.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from fleetpulse.collector.store.database import Database

Codes = npt.NDArray[np.intp]  # a code per row, 0 .. n - 1
Seconds = npt.NDArray[np.float64]  # a value per row in seconds; NaN: unknown
Mask = npt.NDArray[np.bool_]
#: (manufacturer, model) as the by-model figures group devices: (None, None) when the model
#: is unknown (whatever the manufacturer)
ModelKey = tuple[str | None, str | None]
#: A device's row as read: device_id, site, manufacturer, model, system_disk
DeviceFigureRow = tuple[str, str, str | None, str | None, str | None]
UNKNOWN_MODEL: ModelKey = (None, None)


@dataclass(frozen=True, slots=True)
class Devices:
    """Devices as columns, device code = position. ``sites`` and ``models`` name the codes
    in ``site`` and ``model``; ``hdd`` and ``disk_known`` say whether the system disk is an
    HDD and whether it is known. A device without a stored row (an event whose device was
    not read) has site "", model UNKNOWN_MODEL and no known disk."""

    ids: list[str]
    site: Codes
    sites: list[str]
    model: Codes
    models: list[ModelKey]
    hdd: Mask
    disk_known: Mask


@dataclass(frozen=True, slots=True)
class Events:
    """Sign-ins or boots as columns: the device's code, the event time (Unix seconds) and
    the duration (seconds, NaN: unknown)."""

    device: Codes
    at: Seconds
    total: Seconds

    def where(self, keep: Mask) -> Events:
        return Events(self.device[keep], self.at[keep], self.total[keep])


@dataclass(frozen=True, slots=True)
class FigureRows:
    """What the figures read: the devices, the SLA sign-ins (first_login and after_update
    ones left out) and the boots of one period, by event time."""

    devices: Devices
    signins: Events
    boots: Events


class DeviceCodes:
    """Builds Devices and Events: the devices from their rows, then events coded by device
    id (a dictionary look-up per event, in C: ``map``); an event whose device has no row is
    dropped, or gets a row-less device."""

    def __init__(self, rows: Iterable[DeviceFigureRow]) -> None:
        rows = list(rows)
        self.ids: list[str] = [r[0] for r in rows]
        self.index = {dev: i for i, dev in enumerate(self.ids)}
        sites = [r[1] for r in rows]
        self._sites = {site: i for i, site in enumerate(dict.fromkeys(sites))}
        self._site = list(map(self._sites.__getitem__, sites))
        # a device's key is (manufacturer, model), (None, None) when the model is unknown
        self._models: dict[ModelKey, int] = {UNKNOWN_MODEL: 0}
        pairs = [(r[2], r[3]) for r in rows]
        key_of = {
            pair: self._models.setdefault(
                UNKNOWN_MODEL if pair[1] is None else pair, len(self._models)
            )
            for pair in dict.fromkeys(pairs)
        }
        self._model = list(map(key_of.__getitem__, pairs))
        self._disk: list[str | None] = [r[4] for r in rows]

    def _add(self, device_id: str) -> int:
        """A row-less device's code (added at the first event of it)."""
        code = self.index[device_id] = len(self.ids)
        self.ids.append(device_id)
        self._site.append(self._sites.setdefault("", len(self._sites)))
        self._model.append(self._models[UNKNOWN_MODEL])
        self._disk.append(None)
        return code

    def events(self, rows: Iterable[tuple[str, float, float | None]], keep_unknown: bool) -> Events:
        """Events from (device_id, event time, duration or None) rows, in their order;
        those of devices without a row are dropped unless ``keep_unknown``."""
        rows = list(rows)
        ids = [r[0] for r in rows]
        device = np.fromiter(map(self.index.get, ids, repeat(-1)), dtype=np.intp, count=len(ids))
        missing = np.flatnonzero(device < 0)
        if keep_unknown:
            for i in missing:  # one row-less device per id, however many events it has
                code = self.index.get(ids[i])
                device[i] = self._add(ids[i]) if code is None else code
        events = Events(device, _seconds([r[1] for r in rows]), _seconds([r[2] for r in rows]))
        return events if keep_unknown or not len(missing) else events.where(device >= 0)

    def devices(self) -> Devices:
        """The devices so far, row-less ones included."""
        return Devices(
            ids=list(self.ids),
            site=np.array(self._site, dtype=np.intp).reshape(-1),
            sites=list(self._sites),
            model=np.array(self._model, dtype=np.intp).reshape(-1),
            models=list(self._models),
            hdd=np.array([d == "hdd" for d in self._disk], dtype=np.bool_).reshape(-1),
            disk_known=np.array([d is not None for d in self._disk], dtype=np.bool_).reshape(-1),
        )


def _seconds(values: list[float | None]) -> Seconds:
    """Seconds as an array; None becomes NaN."""
    return np.array(values, dtype=np.float64).reshape(-1)


class FigureReads:
    """The figures' read from one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def figure_rows(self, since: float, until: float) -> FigureRows:
        """The SLA sign-ins and the boots that started in ``[since, until)`` (event time)
        and every enrolled device (revoked ones too: their stored events still count).

        Three reads, sign-ins, boots, then devices: each event's device is stored before
        it and devices are never deleted, so every event read has its device in the last
        read (a sign-in without one would be left out, as by an inner join; a boot without
        one would count under the unknown model). Devices are joined to events here, not in
        SQL: SQLite looks each joined row's device up in the devices' key index (at 300,000
        devices, 572,553 sign-ins took 2.3-2.7 s joined against 1.4 s read alone), the
        dictionary look-ups here take ~0.3 s."""
        signins = self._db.read(
            "SELECT device_id, started_at, total_seconds FROM signins"
            " WHERE started_at >= ? AND started_at < ?"
            " AND COALESCE(first_login, 0) = 0 AND COALESCE(after_update, 0) = 0",
            (since, until),
        )
        boots = self._db.read(
            "SELECT device_id, boot_time, total_seconds FROM boots"
            " WHERE boot_time >= ? AND boot_time < ?",
            (since, until),
        )
        devices = DeviceCodes(
            self._db.read("SELECT device_id, site, manufacturer, model, system_disk FROM devices")
        )
        sla = devices.events(signins, keep_unknown=False)
        booted = devices.events(boots, keep_unknown=True)
        return FigureRows(devices.devices(), sla, booted)
