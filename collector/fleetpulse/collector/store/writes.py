"""How ingest writes the rows of one round: the statements both stores share in meaning.

``Writes`` is what the ingest path asks of a store: insert rows unless a key holds them,
update or delete rows by key, keep the latest row per key, read rows by key. Two
implementations give the same result with different statements, chosen by the dialect:
``RowWrites`` (store/row_writes.py: one statement per row or per chunk of rows, SQLite) and
``ArrayWrites`` (store/array_writes.py: one statement per call with one array parameter per
column, PostgreSQL). Rows are tuples in the order of the columns named with them.

Statements inside ``batch`` may be sent without waiting for each answer (PostgreSQL's
pipeline mode); a statement's result is read when its ``Stored`` is called, which waits for
it and every statement before it. Server-side they still run one after the other, in the
order they were issued, so the outcome is that of running them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from fleetpulse.collector.store.database import Connection, Params, Row

#: The columns every ingested table starts with; ``RETURNING`` names the rows stored.
STORED = "RETURNING device_id, seq"
#: What an upsert of the latest row returns: the (device_id, seq) of the record it kept.
KEPT = "RETURNING device_id, last_seq"

#: The (device_id, seq) a statement stored, read when called (once).
Stored = Callable[[], set[tuple[str, int]]]


class Writes(Protocol):
    """The writes of one ingest round, inside a write transaction ``conn``."""

    def batch(self, conn: Connection) -> AbstractContextManager[object]:
        """Around the statements of one group: on leaving, every statement has run (its
        errors raised, the driver's own: a data error stays a data error)."""
        ...

    def insert(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params], new: bool
    ) -> Stored:
        """Inserts ``rows`` in order (``ON CONFLICT DO NOTHING``: a row whose key is held,
        by the table or an earlier row, is skipped). With ``new``, the result is the
        (device_id, seq) of the rows inserted (``cols`` must start with both); otherwise an
        empty set."""
        ...

    def update(
        self,
        conn: Connection,
        table: str,
        cols: Sequence[str],
        key: str,
        rows: Sequence[Params],
        newer: str | None = None,
    ) -> None:
        """Sets ``cols`` of the row whose ``key`` is the row's last value (rows: the values
        of ``cols``, then the key; one row per key). With ``newer`` (one of ``cols``), a row
        is changed only if that column is NULL or smaller than the new value."""
        ...

    def delete(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params]
    ) -> None:
        """Deletes the rows whose ``cols`` equal those of one of ``rows``."""
        ...

    def keep_latest(
        self,
        conn: Connection,
        table: str,
        cols: Sequence[str],
        key: Sequence[str],
        changes: Sequence[str],
        rows: Sequence[Params],
        unless: str | None = None,
    ) -> Stored:
        """Inserts each row, or sets ``changes`` of the row with its ``key`` if its
        ``last_seq`` is larger; with ``unless`` (a table), not if that table holds a row
        with the same ``key``. ``cols`` include ``device_id`` and ``last_seq``; ``rows`` have
        distinct keys (a statement cannot change one row twice). The result is the
        (device_id, last_seq) of the rows inserted or changed."""
        ...

    def select(
        self, conn: Connection, table: str, cols: Sequence[str], key: str, values: Sequence[str]
    ) -> list[Row]:
        """``cols`` of the rows whose ``key`` is one of ``values`` (text keys), any order;
        waits for the answer."""
        ...


def on_conflict_keep_latest(table: str, key: Sequence[str], changes: Sequence[str]) -> str:
    """The ``ON CONFLICT … DO UPDATE`` clause of ``Writes.keep_latest`` (same on both
    stores: sqlite.org/lang_upsert.html, PostgreSQL manual "INSERT")."""
    sets = ", ".join(f"{c} = excluded.{c}" for c in changes)
    return (
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
        f" WHERE excluded.last_seq > {table}.last_seq {KEPT}"
    )


def kept(rows: list[Row]) -> set[tuple[str, int]]:
    """(device_id, seq) of ``RETURNING device_id, seq`` (or ``last_seq``) rows."""
    return {(str(r[0]), int(r[1])) for r in rows}


def ready(stored: set[tuple[str, int]]) -> Stored:
    """A result already read."""
    return lambda: stored
