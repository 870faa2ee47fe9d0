"""Reads whatever is readable from a damaged spool file, without changing it.

SQLite's own answer to a damaged file, the shell's ``.recover`` command, is not part of
the library Python's ``sqlite3`` module wraps, so the salvage is done here with plain
queries: the ``spool`` table is walked in rowid (``seq``) order; where a read fails
(SQLITE_CORRUPT), a search over rowids finds the first key past the damaged pages and the
walk goes on from there, so one bad page costs only the rows stored on it. What was lost
is counted from the ``spool_by_value`` index, a separate b-tree that lists every seq: the
seqs it holds that the table walk could not read are the unreadable rows. When the index
is damaged too, the count is a lower bound (``complete`` is False).

Error codes are those of https://www.sqlite.org/rescode.html (SQLITE_CORRUPT = 11,
SQLITE_NOTADB = 26).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fleetpulse.contract.records import PRIORITY

log = logging.getLogger("fleetpulse.agent.spool")

SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
_LAST = 2**63 - 1  # the largest rowid SQLite allows

#: One spool row: (seq, kind, priority, created_at, size, payload).
Row = tuple[int, str, int, float, int, bytes]


def is_damage(exc: BaseException) -> bool:
    """True if ``exc`` says the file's content is damaged (not locked, full or missing)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


@dataclass
class Salvage:
    """What a damaged spool still holds.

    ``rows`` are the readable spool rows in seq order; ``unreadable`` the rows that were
    there but could not be read (None: not even a lower bound, e.g. the file header is
    gone); ``complete`` False when ``unreadable`` is only a lower bound. ``counters``,
    ``rejected`` and ``last_seq`` (the highest seq ever assigned, ``sqlite_sequence``) are
    whatever of them could be read."""

    rows: list[Row] = field(default_factory=list)
    unreadable: int | None = None
    complete: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, str, str, bytes]] = field(default_factory=list)
    last_seq: int | None = None

    @property
    def unreadable_text(self) -> str:
        """The count as people should read it: "unknown", "at least N" or "N"."""
        if self.unreadable is None:
            return "unknown"
        return str(self.unreadable) if self.complete else f"at least {self.unreadable}"


def connect_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection that changes nothing on disk: with no ``-wal`` file the
    database is opened ``immutable`` (SQLite would otherwise create ``-wal`` and ``-shm``
    files and leave them behind); with one, ``mode=ro`` reads it too."""
    uri = f"file:{path}?mode=ro" if os.path.exists(path + "-wal") else f"file:{path}?immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


class Walker:
    """Walks a seq-ordered query over a damaged b-tree; ``skipped`` counts the damaged
    ranges stepped over."""

    def __init__(self, conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()):
        self.conn, self.sql, self.params = conn, sql, params
        self.skipped = 0

    def _first_after(self, after: int) -> tuple[Any, ...] | None:
        row = self.conn.execute(self.sql + " LIMIT 1", (*self.params, after)).fetchone()
        return None if row is None else tuple(row)

    def _readable(self, after: int) -> bool:
        try:
            self._first_after(after)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            return False
        return True

    def _skip(self, after: int) -> int | None:
        """The smallest key past ``after`` from which reading works again, or None."""
        lo, step = after, 1
        while True:
            hi = min(_LAST, lo + step)
            if self._readable(hi):
                break
            if hi == _LAST:
                return None
            lo, step = hi, step * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._readable(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        after = -1
        while True:
            try:
                for row in self.conn.execute(self.sql, (*self.params, after)):
                    yield tuple(row)
                    after = int(row[0])
                return
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self.skipped += 1
                resume = self._skip(after)
                if resume is None:
                    return
                after = resume


def _tolerant(read: Callable[[], None]) -> bool:
    try:
        read()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc) and not isinstance(exc, sqlite3.OperationalError):
            raise
        return False
    return True


def salvage(path: str) -> Salvage:
    """Reads every readable row of the spool at ``path`` (and its ``-wal``) read-only."""
    out = Salvage()
    try:
        conn = connect_readonly(path)
    except sqlite3.DatabaseError:
        return out
    try:
        table = Walker(
            conn,
            "SELECT seq, kind, priority, created_at, size, payload FROM spool NOT INDEXED"
            " WHERE seq > ? ORDER BY seq",
        )
        rows: dict[int, Row] = {}

        def read_table() -> None:
            for r in table:
                rows[int(r[0])] = _row(r)

        if not _tolerant(read_table):
            return out  # the schema itself is unreadable: nothing, count unknown
        listed: set[int] = set()
        index_whole = True
        for priority in sorted(set(PRIORITY.values())):
            index = Walker(
                conn,
                "SELECT seq FROM spool INDEXED BY spool_by_value"
                " WHERE priority = ? AND seq > ? ORDER BY seq",
                (priority,),
            )

            def read_index(index: Walker = index) -> None:
                listed.update(int(r[0]) for r in index)

            whole = _tolerant(read_index)
            index_whole = index_whole and whole and index.skipped == 0
        for seq in sorted(listed - rows.keys()):  # a last try, one row at a time
            try:
                r = conn.execute(
                    "SELECT seq, kind, priority, created_at, size, payload FROM spool"
                    " NOT INDEXED WHERE seq = ?",
                    (seq,),
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                continue
            if r is not None:
                rows[seq] = _row(tuple(r))
        out.rows = [rows[s] for s in sorted(rows)]
        out.unreadable = len(listed - rows.keys())
        # Exact when the table walk stepped over nothing (nothing lost) or the index that
        # lists every seq read whole; otherwise a lower bound, or unknown if that is 0.
        out.complete = table.skipped == 0 or index_whole
        if not out.complete and out.unreadable == 0:
            out.unreadable = None  # rows were lost, and nothing says how many

        def read_counters() -> None:
            out.counters = {
                str(k): int(v) for k, v in conn.execute("SELECT name, value FROM counters")
            }

        def read_rejected() -> None:
            for seq, kind, reason, payload in conn.execute(
                "SELECT seq, kind, reason, payload FROM rejected"
            ):
                out.rejected.append((int(seq), str(kind), str(reason), bytes(payload)))

        def read_sequence() -> None:
            got = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
            out.last_seq = None if got is None else int(got[0])

        for read in (read_counters, read_rejected, read_sequence):
            _tolerant(read)
    finally:
        conn.close()
    return out


def _row(r: tuple[Any, ...]) -> Row:
    seq, kind, priority, created_at, size, payload = r
    return (int(seq), str(kind), int(priority), float(created_at), int(size), bytes(payload))
