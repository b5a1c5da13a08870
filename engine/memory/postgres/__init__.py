"""The memory store on PostgreSQL (with pgvector): one world shared by many processes.

``MemoryStore("postgresql://...")`` opens it; nothing here is imported on the SQLite path, so
psycopg is needed only with the ``postgres`` extra. Holds the connection pool and transactions
(:mod:`.connection`), the versioned schema (:mod:`.schema`), the full-text terms and bm25
(:mod:`.terms`), the store (:mod:`.store`) and the copy between SQLite and PostgreSQL worlds
(:mod:`.migrate`). May import :mod:`engine.memory`'s modules and :mod:`engine.errors`; nothing
outside ``engine.memory`` imports it except through ``MemoryStore`` and the CLI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PostgresMemoryStore"]


def __getattr__(name: str) -> Any:
    if name == "PostgresMemoryStore":
        from engine.memory.postgres.store import PostgresMemoryStore

        return PostgresMemoryStore
    raise AttributeError(name)
