"""``Writes`` with one statement per row (PEP 249 ``executemany``) or per chunk of rows
(multi-row ``INSERT``): the path for SQLite, whose sqlite3 module parses and runs each
statement in C, so many small statements cost little there."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from fleetpulse.collector.store.database import Connection, Database, Params, Row
from fleetpulse.collector.store.writes import (
    STORED,
    Stored,
    kept,
    on_conflict_keep_latest,
    ready,
)

#: Rows per multi-row INSERT, keys per IN list (far below SQLite's 32,766 parameters).
_CHUNK = 300


def _chunks(rows: Sequence[Params], size: int = _CHUNK) -> list[Sequence[Params]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class RowWrites:
    """``Writes`` (store/writes.py) with ``?`` statements per row or chunk."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def batch(self, conn: Connection) -> AbstractContextManager[object]:
        return nullcontext()  # each statement runs when issued

    def insert(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params], new: bool
    ) -> Stored:
        stored: set[tuple[str, int]] = set()
        row_sql = "(" + ",".join("?" * len(cols)) + ")"
        tail = " ON CONFLICT DO NOTHING" + (f" {STORED}" if new else "")
        for chunk in _chunks(rows):
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
            sql += ",".join([row_sql] * len(chunk)) + tail
            cur = self._db.x(conn, sql, [v for row in chunk for v in row])
            if new:
                stored |= kept(cur.fetchall())
        return ready(stored)

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
        sql = f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE {key} = ?"
        if newer is not None:
            sql += f" AND ({newer} IS NULL OR {newer} < ?)"
            at = list(cols).index(newer)
            rows = [(*row, row[at]) for row in rows]
        conn.cursor().executemany(self._db.sql(sql), rows)

    def delete(
        self, conn: Connection, table: str, cols: Sequence[str], rows: Sequence[Params]
    ) -> None:
        if rows:
            where = " AND ".join(f"{c} = ?" for c in cols)
            conn.cursor().executemany(self._db.sql(f"DELETE FROM {table} WHERE {where}"), rows)

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
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {table} ({', '.join(cols)}) "
        at = [list(cols).index(k) for k in key]
        if unless is None:
            sql += f"VALUES ({marks})"
        else:
            match = " AND ".join(f"{k} = ?" for k in key)
            sql += f"SELECT {marks} WHERE NOT EXISTS (SELECT 1 FROM {unless} WHERE {match})"
            rows = [(*row, *(row[i] for i in at)) for row in rows]
        sql += on_conflict_keep_latest(table, key, changes)
        found: list[Row] = []
        for row in rows:  # RETURNING needs one execute per row (executemany drops rows)
            found += self._db.x(conn, sql, row).fetchall()
        return ready(kept(found))

    def select(
        self, conn: Connection, table: str, cols: Sequence[str], key: str, values: Sequence[str]
    ) -> list[Row]:
        found: list[Row] = []
        for chunk in _chunks([(v,) for v in values]):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {key} IN ({marks})"
            found += self._db.x(conn, sql, [v for (v,) in chunk]).fetchall()
        return found
