"""One database, two connections: the plumbing every part of the store shares.

A ``Dialect`` says how SQLite and PostgreSQL differ (how to connect, begin a write, read and
set the schema version, which driver errors mean "unavailable", when a connection is lost,
whether a statement takes arrays).
``Database`` holds a write connection and a read connection, each behind its own lock, and
gives the parts of the store three things: ``write()`` (one transaction), ``read()`` (a
query on the read connection, its transaction ended so the next read sees new commits) and
``x()`` (a statement inside a write). Statements are written with ``?`` placeholders; the
dialect's ``placeholder`` replaces them (PEP 249 ``paramstyle``: ``qmark`` for sqlite3,
``format`` for psycopg).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from typing import Any, Protocol, TypeVar

from fleetpulse.collector.errors import ConfigError, StoreUnavailable
from fleetpulse.collector.redact import redact

#: One result row: column values as the driver returns them (str, int, float or None).
Row = tuple[Any, ...]
#: Statement parameters, in placeholder order.
Params = Sequence[object]
T = TypeVar("T")


class Access(Enum):
    """What a command may do to the database it opens."""

    CREATE = "create"  # serve, migrate: may create the database and change its schema
    WRITE = "write"  # data only: the database must exist with the current schema
    READ = "read"  # nothing is written: SQLite opens the file read-only (mode=ro),
    # PostgreSQL sessions are READ ONLY


class Cursor(Protocol):
    """The PEP 249 cursor subset the store uses (sqlite3.Cursor, psycopg.Cursor)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...
    def executemany(self, sql: str, params: Iterable[Params], /) -> object: ...


class Connection(Protocol):
    """The connection subset the store uses: ``execute`` returning a cursor (psycopg's
    ``Connection.execute``; sqlite3's through ``sqlite.AutoCommitting``)."""

    def execute(self, sql: str, params: Params = (), /) -> Cursor: ...
    def cursor(self) -> Cursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class Dialect(Protocol):
    """What differs between the stores. ``where`` names the database in messages
    (redacted), e.g. ``SQLite database /var/lib/fleetpulse/collector.db``."""

    placeholder: str
    where: str
    #: True if a list goes to the server as one array parameter that a statement can
    #: ``unnest`` (PostgreSQL): ingest then stores a round's rows of one kind with one
    #: statement (store/array_writes.py) instead of one per row (store/row_writes.py).
    arrays: bool

    def connect(self) -> Connection:
        """A new connection; ConfigError (one line, redacted) if the database cannot be
        opened."""
        ...

    def begin(self, conn: Connection) -> None:
        """Starts a write transaction that holds the write lock from its start."""
        ...

    def transient(self, exc: BaseException) -> bool:
        """True if a driver error says the database is unavailable (locked, down, full)
        rather than that this data cannot be stored."""
        ...

    def broken(self, conn: Connection) -> bool:
        """True if the connection is lost and must be replaced."""
        ...

    def lock_schema(self, conn: Connection) -> None:
        """Inside a write: serialises migrations and creates the version's home if the
        dialect keeps it in a table (DDL: only ``migrate`` calls this)."""
        ...

    def schema_version(self, conn: Connection) -> int:
        """The schema version recorded in the database, 0 if none; no writes."""
        ...

    def set_version(self, conn: Connection, version: int) -> None: ...

    def is_empty(self, conn: Connection) -> bool:
        """True if the database (PostgreSQL: the current schema) has no tables at all."""
        ...


class Database:
    """A write connection and a read connection to one database, each behind a lock, so
    one store object serves the asyncio collector's worker threads."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._wconn = dialect.connect()
        try:
            self._rconn = dialect.connect()
        except BaseException:
            self._wconn.close()
            raise

    def sql(self, sql: str) -> str:
        """``sql`` with the dialect's placeholders instead of ``?``."""
        ph = self.dialect.placeholder
        return sql if ph == "?" else sql.replace("?", ph)

    def x(self, conn: Connection, sql: str, params: Params = ()) -> Cursor:
        """Executes one ``?``-placeholder statement on ``conn`` (inside ``write()``)."""
        return conn.execute(self.sql(sql), tuple(params))

    def transient(self, exc: BaseException) -> bool:
        """True if ``exc`` says the database is unavailable (locked, down, full) rather
        than that this data cannot be stored."""
        return isinstance(exc, StoreUnavailable) or self.dialect.transient(exc)

    def _unavailable(self, exc: Exception, doing: str) -> Exception:
        """``exc`` as StoreUnavailable if it is transient (a store error every RPC answers
        with UNAVAILABLE and a retry hint), else ``exc`` itself. The message is redacted
        and one line: driver messages may quote the connection string."""
        if isinstance(exc, StoreUnavailable) or not self.transient(exc):
            return exc
        detail = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreUnavailable(f"the database could not {doing}: {detail}")

    def _fresh(self, conn: Connection) -> Connection:
        """``conn``, or a new connection if it was lost (e.g. the server restarted)."""
        if not self.dialect.broken(conn):
            return conn
        with suppress(Exception):  # already gone
            conn.close()
        try:
            return self.dialect.connect()
        except ConfigError as exc:  # it answered at startup: unavailable now, not misconfigured
            raise StoreUnavailable(redact(str(exc)).splitlines()[0]) from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; transient failures come out as StoreUnavailable."""
        with self._write_lock:
            try:
                self._wconn = conn = self._fresh(self._wconn)
                self.dialect.begin(conn)
                try:
                    yield conn
                except BaseException:
                    with suppress(Exception):  # a lost connection cannot roll back
                        conn.rollback()
                    raise
                conn.commit()
            except Exception as exc:
                err = self._unavailable(exc, "commit")
                if err is exc:
                    raise
                raise err from exc

    def read(self, sql: str, params: Params = ()) -> list[Row]:
        """All rows of one ``?``-placeholder query on the read connection."""
        with self._read_lock:
            try:
                self._rconn = self._fresh(self._rconn)
                rows = self.x(self._rconn, sql, params).fetchall()
                self._rconn.commit()  # end the read transaction: next read sees new commits
            except Exception as exc:
                with suppress(Exception):  # leave no failed transaction behind
                    self._rconn.rollback()
                err = self._unavailable(exc, "read")
                if err is exc:
                    raise
                raise err from exc
            return [tuple(r) for r in rows]

    def inspect(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` on the read connection, its transaction ended afterwards;
        for the dialect's own catalogue queries (schema version, emptiness)."""
        with self._read_lock:
            self._rconn = self._fresh(self._rconn)
            try:
                return fn(self._rconn)
            finally:
                with suppress(Exception):
                    self._rconn.rollback()

    def close(self) -> None:
        self._wconn.close()
        self._rconn.close()
