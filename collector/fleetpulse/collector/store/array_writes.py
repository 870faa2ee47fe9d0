"""``Writes`` with one statement per call on PostgreSQL: each column of the rows goes as one
array parameter and the statement reads them back as rows with ``unnest`` (PostgreSQL
manual, 9.19 "Array Functions": ``unnest(a1, a2, …)`` expands several arrays in parallel
into rows, in order).

The statement text depends only on the table and columns, never on the number of rows, so
psycopg prepares it once per connection (psycopg docs, "Prepared statements") and the
server runs one executor pass per call instead of one per row. Each array is cast to its
column's declared type (store/schema.py, ``column_types``), and each value is made that
Python type first: psycopg dumps a list by the type of its elements and refuses a mix of
int and float (psycopg docs, "Lists adaptation"); NULLs stay NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, cast

from fleetpulse.collector.store.database import Connection, Params, Row
from fleetpulse.collector.store.schema import column_types
from fleetpulse.collector.store.writes import (
    STORED,
    Stored,
    kept,
    on_conflict_keep_latest,
    ready,
)

#: Python type of each declared column type (booleans are stored as INTEGER 0/1).
_PYTHON: dict[str, Callable[[Any], object]] = {
    "TEXT": str,
    "INTEGER": int,
    "BIGINT": int,
    "DOUBLE PRECISION": float,
}


@cache
def _declared(table: str, cols: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The declared type of each of ``table``'s ``cols`` and its Python type; KeyError
    if one is not a column of the schema."""
    types = column_types()
    declared = tuple(types[f"{table}.{c}"] for c in cols)
    return declared, tuple(_PYTHON[t] for t in declared)


def unnest(table: str, cols: Sequence[str]) -> str:
    """``unnest(%s::text[], %s::bigint[], …) AS u(device_id, seq, …)``: a FROM item with
    one array parameter per column of ``table``, typed as declared."""
    declared, _ = _declared(table, tuple(cols))
    arrays = ", ".join(f"%b::{t.lower()}[]" for t in declared)
    return f"unnest({arrays}) AS u({', '.join(cols)})"


def arrays(table: str, cols: Sequence[str], rows: Sequence[Params]) -> list[list[object]]:
    """The parameters of ``unnest(table, cols)``: one list per column, each value as its
    column's Python type (None kept)."""
    _, kinds = _declared(table, tuple(cols))
    return [
        [None if row[i] is None else kind(row[i]) for row in rows] for i, kind in enumerate(kinds)
    ]


def _match(left: str, right: str, cols: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{c} = {right}.{c}" for c in cols)


class ArrayWrites:
    """``Writes`` (store/writes.py) with one ``unnest`` statement per call, in pipeline
    mode inside ``batch`` (psycopg docs, "Pipeline mode support": statements are sent
    without waiting, results read when a cursor is fetched)."""

    def batch(self, conn: Connection) -> AbstractContextManager[object]:
        pipeline: AbstractContextManager[object] = cast(Any, conn).pipeline()
        return pipeline

    def insert(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params], new: bool
    ) -> Stored:
        if not rows:
            return ready(set())
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM {unnest(table, cols)}"
            " ON CONFLICT DO NOTHING" + (f" {STORED}" if new else "")
        )
        cur = conn.execute(sql, arrays(table, cols, rows))
        return (lambda: kept(cur.fetchall())) if new else ready(set())

    def update(
        self,
        conn: Connection,
        table: str,
        cols: Sequence[str],
        key: str,
        rows: Sequence[Params],
        newer: str | None = None,
    ) -> None:
        if not rows:
            return
        every = (*cols, key)
        sets = ", ".join(f"{c} = u.{c}" for c in cols)
        sql = f"UPDATE {table} AS t SET {sets} FROM {unnest(table, every)} WHERE t.{key} = u.{key}"
        if newer is not None:
            sql += f" AND (t.{newer} IS NULL OR t.{newer} < u.{newer})"
        conn.execute(sql, arrays(table, every, rows))

    def delete(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params]
    ) -> None:
        if rows:
            match = _match("t", "u", cols)
            sql = f"DELETE FROM {table} AS t USING {unnest(table, cols)} WHERE {match}"
            conn.execute(sql, arrays(table, cols, rows))

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
        if not rows:
            return ready(set())
        sql = f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM {unnest(table, cols)}"
        if unless is not None:
            sql += f" WHERE NOT EXISTS (SELECT 1 FROM {unless} AS x WHERE {_match('x', 'u', key)})"
        sql += on_conflict_keep_latest(table, key, changes)
        cur = conn.execute(sql, arrays(table, cols, rows))
        return lambda: kept(cur.fetchall())

    def select(
        self, conn: Connection, table: str, cols: Sequence[str], key: str, values: Sequence[str]
    ) -> list[Row]:
        if not values:
            return []
        ((declared,), _) = _declared(table, (key,))
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {key} = ANY(%b::{declared.lower()}[])"
        return conn.execute(sql, (list(values),)).fetchall()
