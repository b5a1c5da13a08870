"""A pool of PostgreSQL connections with the transactions and retries the store relies on.

The store's SQL is written once, with ``?`` placeholders, for SQLite and PostgreSQL alike;
:class:`PgConnection` takes it as it is (``?`` becomes psycopg's ``%s``). A write runs in one
transaction on one connection from the pool; a nested write (a group of writes) runs in a
savepoint of it, as on SQLite.

Failures: a connection lost before ``COMMIT`` was sent (the server restarted, the network
dropped) rolls nothing in and is retried on a fresh connection with jittered backoff, as are
deadlocks and serialisation failures, for at most ``busy_timeout`` seconds. A connection lost
*during* ``COMMIT`` leaves the outcome unknown: that is never retried (it could write twice) and
becomes a :class:`~engine.errors.StoreError` saying so. Any other database error is a
StoreError naming the database at once.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from engine.errors import EngineError, StoreError

__all__ = ["PgConnection", "PgDatabase", "Rows", "translate"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")


def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s``; every literal ``%`` doubled (a ``?``
    inside a quoted string is left alone).

    >>> translate("SELECT 1 FROM t WHERE a = ? AND b LIKE 'x%?'")
    "SELECT 1 FROM t WHERE a = %s AND b LIKE 'x%%?'"
    """
    return _PLACEHOLDER.sub(
        lambda m: "%s" if m.group() == "?" else m.group().replace("%", "%%"), sql
    )


_translated: dict[str, str] = {}


def _sql(sql: str) -> str:
    out = _translated.get(sql)
    if out is None:
        out = translate(sql)
        if len(_translated) < 4096:
            _translated[sql] = out
    return out


def _check_text(params: Sequence[Any]) -> None:
    for value in params:
        if isinstance(value, str) and "\x00" in value:
            raise StoreError("text holds a NUL character, which PostgreSQL cannot store")


class PgConnection:
    """One pooled connection, speaking the store's SQL (``?`` placeholders)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.depth = 0

    @property
    def in_transaction(self) -> bool:
        return self.depth > 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        params = tuple(params)
        _check_text(params)
        return self.raw.execute(_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        rows = [tuple(r) for r in rows]
        for r in rows:
            _check_text(r)
        cur = self.raw.cursor()
        if rows:
            cur.executemany(_sql(sql), rows)
        return cur


def _retryable(exc: psycopg.Error) -> bool:
    """A lost connection, a deadlock or a serialisation failure: worth another try."""
    return isinstance(
        exc,
        psycopg.OperationalError
        | pg_errors.SerializationFailure
        | pg_errors.DeadlockDetected
        | pg_errors.AdminShutdown,
    ) and not isinstance(exc, pg_errors.QueryCanceled)


class PgDatabase:
    """The connection pool of one PostgreSQL world (``postgresql://...`` URL).

    ``min_size``/``max_size`` bound the pool; ``busy_timeout`` bounds how long one write or
    read is retried (lost connections, deadlocks). Migrations (:mod:`.schema`) run on open.
    Shared by the store and its :class:`~engine.memory.Ledger` on the store's thread.
    """

    is_postgres = True

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        busy_timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        from pgvector.psycopg import register_vector

        from engine.memory.postgres.schema import migrate

        self.url = url
        self.label = re.sub(r"://[^@/]*@", "://", url)  # never log a password
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        try:
            # Migrations first, on a connection of their own: pooled connections then find
            # the vector type in place when they are set up.
            with psycopg.connect(
                url, autocommit=True, connect_timeout=int(max(1, connect_timeout))
            ) as raw:
                conn = PgConnection(raw)
                raw.execute("BEGIN")
                migrate(conn)
                raw.execute("COMMIT")
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True, "connect_timeout": int(max(1, connect_timeout))},
                configure=register_vector,
                timeout=connect_timeout,
                open=False,
                name="npc-memory",
            )
            self.pool.open(wait=True, timeout=connect_timeout)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open world database {self.label}: {exc}") from exc
        except Exception as exc:  # the pool's own errors: the server did not answer in time
            if exc.__class__.__module__.startswith("psycopg_pool"):
                raise StoreError(f"cannot open world database {self.label}: {exc}") from exc
            raise

    # ------------------------------------------------------------------ transactions

    @property
    def current(self) -> PgConnection | None:
        """The connection of the transaction open on this thread, if any."""
        return getattr(self._local, "conn", None)

    def write(self, fn: Callable[[PgConnection], T]) -> T:
        """Run ``fn(conn)`` in one transaction (all or nothing), retried as described above.

        Inside a transaction already open on this thread, ``fn`` runs in a savepoint of it.
        """
        conn = self.current
        if conn is not None:
            return self._savepoint(conn, fn)
        return self._with_retry(lambda: self._transaction(fn), "write")

    def read(self, fn: Callable[[PgConnection], T], *, snapshot: bool = False) -> T:
        """Run reads ``fn(conn)`` (in one snapshot with ``snapshot``), retried on a lost
        connection."""
        conn = self.current
        if conn is not None:
            return fn(conn)
        if snapshot:
            return self._with_retry(
                lambda: self._transaction(
                    fn, begin="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                ),
                "read",
            )
        return self._with_retry(lambda: self._plain(fn), "read")

    def group(self, fn: Callable[[PgConnection], T]) -> T:
        """Like :meth:`write`, but never retried: ``fn`` reports each part's outcome itself
        and a retry would run the parts that succeeded again after a lost commit."""
        try:
            return self._transaction(fn)
        except psycopg.Error as exc:
            raise StoreError(f"{self.label}: {exc}") from exc

    def _plain(self, fn: Callable[[PgConnection], T]) -> T:
        with self.pool.connection() as raw:
            return fn(PgConnection(raw))

    def _transaction(self, fn: Callable[[PgConnection], T], *, begin: str = "BEGIN") -> T:
        with self.pool.connection() as raw:
            conn = PgConnection(raw)
            raw.execute(begin)
            conn.depth = 1
            self._local.conn = conn
            try:
                result = fn(conn)
            except BaseException:
                self._local.conn = None
                conn.depth = 0
                if not raw.closed and not raw.broken:
                    try:
                        raw.execute("ROLLBACK")
                    except psycopg.Error:
                        pass
                raise
            self._local.conn = None
            conn.depth = 0
            try:
                raw.execute("COMMIT")
            except psycopg.OperationalError as exc:
                raise _CommitUnknown(exc) from exc
            return result

    @staticmethod
    def _savepoint(conn: PgConnection, fn: Callable[[PgConnection], T]) -> T:
        conn.depth += 1
        name = f"nested_{conn.depth}"
        conn.raw.execute(f"SAVEPOINT {name}")
        try:
            result = fn(conn)
        except BaseException:
            if not conn.raw.broken:
                conn.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.raw.execute(f"RELEASE SAVEPOINT {name}")
            conn.depth -= 1
            raise
        conn.raw.execute(f"RELEASE SAVEPOINT {name}")
        conn.depth -= 1
        return result

    def _with_retry(self, run: Callable[[], T], what: str) -> T:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.01
        while True:
            try:
                return run()
            except _CommitUnknown as exc:
                raise StoreError(
                    f"{self.label}: the connection was lost while committing a {what};"
                    f" it may or may not have been stored ({exc.__cause__})"
                ) from exc.__cause__
            except EngineError:
                raise
            except UnicodeEncodeError as exc:
                raise StoreError(
                    f"{self.label}: text is not valid Unicode (a lone surrogate at position {exc.start})"
                ) from exc
            except psycopg.Error as exc:
                if not _retryable(exc) or time.monotonic() > deadline:
                    raise StoreError(f"{self.label}: {exc}") from exc
                logger.info("PostgreSQL %s failed (%s); retrying in %.2fs", what, exc, delay)
                self.pool.check()  # drop connections the server closed
            except Exception as exc:  # the pool could not give a connection in time
                if (
                    exc.__class__.__module__.startswith("psycopg_pool")
                    and time.monotonic() <= deadline
                ):
                    logger.info("no PostgreSQL connection (%s); retrying in %.2fs", exc, delay)
                else:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    # ------------------------------------------------------------------ locks

    @staticmethod
    def lock_keys(conn: PgConnection, space: str, keys: Iterable[str]) -> None:
        """Hold transaction-scoped advisory locks on ``keys`` (sorted, so two writers never
        wait on each other in opposite orders)."""
        ordered = sorted({zlib.crc32(k.encode("utf-8", "surrogatepass")) - 2**31 for k in keys})
        if ordered:
            conn.execute(
                "SELECT count(pg_advisory_xact_lock(?, k))"
                " FROM (SELECT k FROM unnest(?::int[]) AS k ORDER BY k) AS ordered",
                (zlib.crc32(space.encode()) & 0x7FFFFFFF, ordered),
            )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement (``?`` placeholders) in its own transaction; returns its rows.

        For operators and tools, as ``store.db.execute`` is on SQLite."""

        def run(conn: PgConnection) -> Rows:
            cur = conn.execute(sql, params)
            return Rows(cur.fetchall() if cur.description else [])

        return self.write(run)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query as dicts (``?`` placeholders), as sqlite-utils' ``db.query``."""

        def run(conn: PgConnection) -> list[dict[str, Any]]:
            cur = conn.execute(sql, params)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        return self.read(run)

    def close(self) -> None:
        self.pool.close()


class Rows(list[tuple[Any, ...]]):
    """Fetched rows that also answer ``fetchone``/``fetchall`` like a cursor."""

    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self)


class _CommitUnknown(Exception):
    """The connection failed while COMMIT was on its way: the outcome is not known."""
