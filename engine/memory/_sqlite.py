"""Busy-retry and transaction plumbing shared by the memory store and the ledger."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from engine.errors import StoreError

__all__ = ["in_transaction", "is_busy", "retry"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means another connection holds the file (worth retrying)."""
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message)


def retry(
    conn: sqlite3.Connection,
    fn: Callable[[], T],
    *,
    label: str,
    busy_timeout: float,
    first_delay: float = 0.005,
    max_delay: float = 0.25,
) -> T:
    """Run ``fn``, retrying with jittered backoff while the file is busy.

    Any other SQLite error, or still busy after ``busy_timeout`` seconds, becomes a StoreError
    naming ``label``; an open transaction is rolled back first. Inside a transaction the caller
    had already opened (a group of writes, see ``in_transaction``), an error becomes a
    StoreError at once and that transaction is left to its owner.
    """
    owned = not conn.in_transaction
    deadline = time.monotonic() + busy_timeout
    delay = first_delay
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not owned:
                raise StoreError(f"{label}: {exc}") from exc
            if conn.in_transaction:
                conn.rollback()
            if not is_busy(exc) or time.monotonic() > deadline:
                raise StoreError(f"{label}: {exc}") from exc
            logger.debug("world file busy, retrying in %.3fs", delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, max_delay)
        except sqlite3.DatabaseError as exc:
            if owned and conn.in_transaction:
                conn.rollback()
            raise StoreError(f"{label}: {exc}") from exc
        except UnicodeEncodeError as exc:
            # A lone surrogate: Python text that has no UTF-8 form, so SQLite cannot take it.
            if owned and conn.in_transaction:
                conn.rollback()
            raise StoreError(
                f"{label}: text is not valid Unicode (a lone surrogate at position {exc.start})"
            ) from exc


def in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction (all or nothing).

    Inside a transaction already open on ``conn`` (a group of writes), ``fn`` runs in a
    savepoint of it: if ``fn`` raises, its own changes are undone and the rest of the
    transaction is left to its owner.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested")
        try:
            result = fn(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
            raise
        conn.execute("RELEASE nested")
        return result
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return result
