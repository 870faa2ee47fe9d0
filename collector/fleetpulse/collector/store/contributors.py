"""Sign-in contributors in the store: table ``signin_contributors`` (schema migration 5).

One row per contributor of a stored complete sign-in, keyed by the sign-in's
``(device_id, seq)`` and the contributor's ``ordinal`` (its place in the record). Rows are
written in the ingest transaction, only for sign-ins that transaction inserted, so a
re-sent or duplicate sign-in never adds rows twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetpulse.collector.model import Incoming
from fleetpulse.collector.store.database import Connection, Database
from fleetpulse.contract.records import SigninRecord

#: Rows per INSERT statement (6 parameters each; far below every driver's limit).
_CHUNK = 300


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

    def insert(
        self,
        conn: Connection,
        signins: Sequence[tuple[str, Incoming]],
        inserted: set[tuple[str, int]],
    ) -> None:
        """Writes the contributors of the newly inserted sign-ins (``inserted``: their
        ``(device_id, seq)``), in ``conn``'s transaction."""
        rows = contributor_rows(signins, inserted)
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            values = ",".join(["(?,?,?,?,?,?)"] * len(chunk))
            self._db.x(
                conn,
                "INSERT INTO signin_contributors (device_id, seq, ordinal, kind, name, seconds)"
                f" VALUES {values} ON CONFLICT DO NOTHING",
                [v for row in chunk for v in row],
            )

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
