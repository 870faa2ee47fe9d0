"""Sign-in contributors in the store: table ``signin_contributors`` (schema migration 5).

One row per contributor of a stored complete sign-in, keyed by the sign-in's
``(device_id, seq)`` and the contributor's ``ordinal`` (its place in the record). Rows are
written in the ingest transaction (store/ingest.py), only for sign-ins that transaction
inserted, so a re-sent or duplicate sign-in never adds rows twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetpulse.collector.model import Incoming
from fleetpulse.collector.store.database import Database
from fleetpulse.contract.records import SigninRecord

#: The sign-ins the SLA figures count by default: neither a first login nor after an update.
_UNFLAGGED = " AND COALESCE(s.first_login, 0) = 0 AND COALESCE(s.after_update, 0) = 0"


@dataclass(frozen=True, slots=True)
class ContributorTotal:
    """One ``(kind, name)`` over the sign-ins of a period: in how many sign-ins it was
    named, its seconds in them, and its seconds in those with a known duration."""

    kind: str
    name: str
    signins: int
    seconds: float
    known_seconds: float


@dataclass(frozen=True, slots=True)
class SigninTop:
    """The largest contributor of one stored sign-in (its device and start, Unix seconds)."""

    device_id: str
    started_at: float
    kind: str
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class ContributorRow:
    """A stored contributor with its sign-in's device and start (Unix seconds)."""

    device_id: str
    seq: int
    started_at: float
    kind: str
    name: str
    seconds: float


def contributor_rows(
    signins: Sequence[tuple[str, Incoming]], inserted: set[tuple[str, int]]
) -> list[tuple[str, int, int, str, str, float]]:
    """``(device_id, seq, ordinal, kind, name, seconds)`` for each contributor of the
    ``(device_id, sign-in)`` pairs whose ``(device_id, seq)`` is in ``inserted``."""
    rows = []
    for device_id, inc in signins:
        r = inc.record
        if (device_id, inc.seq) not in inserted or not isinstance(r, SigninRecord):
            continue
        rows += [
            (device_id, inc.seq, i, c.kind, c.name, c.seconds) for i, c in enumerate(r.contributors)
        ]
    return rows


class Contributors:
    """Writes and reads sign-in contributors in one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def contributors_between(self, since: float, until: float) -> list[ContributorRow]:
        """Contributors of the sign-ins stored with ``since <= started_at < until``,
        ordered by sign-in start, device, seq and ordinal."""
        rows = self._db.read(
            "SELECT c.device_id, c.seq, s.started_at, c.kind, c.name, c.seconds"
            " FROM signin_contributors c JOIN signins s"
            " ON s.device_id = c.device_id AND s.seq = c.seq"
            " WHERE s.started_at >= ? AND s.started_at < ?"
            " ORDER BY s.started_at, c.device_id, c.seq, c.ordinal",
            (since, until),
        )
        return [
            ContributorRow(str(d), int(q), float(t), str(k), str(n), float(x))
            for d, q, t, k, n, x in rows
        ]

    def top_contributors(self, since: float, limit: int) -> list[tuple[str, str]]:
        """The ``limit`` ``(kind, name)`` pairs with the most seconds in sign-ins started
        since ``since``, most first."""
        rows = self._db.read(
            "SELECT c.kind, c.name FROM signin_contributors c JOIN signins s"
            " ON s.device_id = c.device_id AND s.seq = c.seq WHERE s.started_at >= ?"
            " GROUP BY c.kind, c.name ORDER BY SUM(c.seconds) DESC, c.kind, c.name LIMIT ?",
            (since, limit),
        )
        return [(str(k), str(n)) for k, n in rows]

    def contributor_totals(
        self, since: float, until: float, include_flagged: bool, limit: int
    ) -> list[ContributorTotal]:
        """The ``limit`` ``(kind, name)`` pairs with the most seconds in the sign-ins started
        in ``[since, until)`` (first-login and after-update ones out unless
        ``include_flagged``), most first; summed in the database, one row per pair."""
        flag = "" if include_flagged else _UNFLAGGED
        rows = self._db.read(
            "SELECT kind, name, COUNT(*), SUM(secs), SUM(known) FROM ("
            " SELECT c.kind, c.name, SUM(c.seconds) AS secs, SUM(CASE WHEN s.total_seconds"
            " IS NULL THEN 0 ELSE c.seconds END) AS known"
            " FROM signin_contributors c JOIN signins s"
            " ON s.device_id = c.device_id AND s.seq = c.seq"
            f" WHERE s.started_at >= ? AND s.started_at < ?{flag}"
            " GROUP BY c.device_id, c.seq, c.kind, c.name) per_signin"
            " GROUP BY kind, name ORDER BY SUM(secs) DESC, kind, name LIMIT ?",
            (since, until, limit),
        )
        return [
            ContributorTotal(str(k), str(n), int(c), float(x), float(y)) for k, n, c, x, y in rows
        ]

    def contributor_signin_seconds(
        self, since: float, until: float, include_flagged: bool, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[float]]:
        """For each ``(kind, name)`` of ``pairs``: its seconds in each sign-in of the period
        that names it (the same sign-ins as contributor_totals), ascending. One pass over
        the period's sign-ins (by time, then their contributors by key)."""
        out: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
        names = sorted({name for _, name in pairs})
        if not names:
            return out
        flag = "" if include_flagged else _UNFLAGGED
        marks = ",".join("?" * len(names))
        rows = self._db.read(
            "SELECT c.kind, c.name, SUM(c.seconds) FROM signins s CROSS JOIN"
            " signin_contributors c WHERE c.device_id = s.device_id AND c.seq = s.seq"
            f" AND s.started_at >= ? AND s.started_at < ?{flag} AND c.name IN ({marks})"
            " GROUP BY c.device_id, c.seq, c.kind, c.name",
            (since, until, *names),
        )
        for kind, name, seconds in rows:
            found = out.get((str(kind), str(name)))
            if found is not None:
                found.append(float(seconds))
        for values in out.values():
            values.sort()
        return out

    def top_per_signin(self, since: float, until: float) -> list[SigninTop]:
        """The largest contributor (most seconds, then its place in the record) of every
        sign-in started in ``[since, until)`` that names any, ranked in the database."""
        rows = self._db.read(
            "SELECT device_id, started_at, kind, name, seconds FROM ("
            " SELECT s.device_id, s.started_at, c.kind, c.name, c.seconds,"
            " ROW_NUMBER() OVER (PARTITION BY c.device_id, c.seq"
            " ORDER BY c.seconds DESC, c.ordinal) AS place"
            " FROM signins s JOIN signin_contributors c"
            " ON c.device_id = s.device_id AND c.seq = s.seq"
            " WHERE s.started_at >= ? AND s.started_at < ?) ranked WHERE place = 1",
            (since, until),
        )
        return [SigninTop(str(d), float(t), str(k), str(n), float(x)) for d, t, k, n, x in rows]
