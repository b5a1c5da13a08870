"""The world's memory: one SQLite file holding what every character knows about every player.

>>> store = MemoryStore(":memory:")
>>> turn = store.add_turn("mira", "p1", "p1", "My sister keeps bees on the hill.")
>>> [r.memory.text for r in store.recall("mira", "p1", "who keeps bees?")]
['My sister keeps bees on the hill.']
>>> store.recall("bram", "p1", "who keeps bees?")     # bram was not there
[]

Keys and visibility: every turn and memory belongs to one (character, player) conversation;
a memory also records who was present (``memory_witnesses``). ``recall(character, player, ...)``
returns only memories about ``player`` that ``character`` witnessed or was told
(:meth:`MemoryStore.share_memory`).

Writes: every public write is one ``BEGIN IMMEDIATE`` transaction (so a batch is all or
nothing), retried while another connection holds the write lock; reads retry on a busy file
too, so "database is locked" never reaches a caller (it becomes :class:`StoreError` only after
``busy_timeout`` seconds). Every insert, update and delete is logged in ``history`` with its
reason, except the last-accessed time that recall refreshes.

The store is not thread-safe: use one instance per thread (the runtime keeps one on its worker
thread); other threads and processes open their own (the file is in WAL mode).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

from engine.memory.methods import StoreMethods

__all__ = ["MemoryStore", "is_postgres_url"]

logger = logging.getLogger(__name__)


def is_postgres_url(path: object) -> bool:
    """Whether ``path`` names a PostgreSQL database (``postgresql://...``) rather than a file."""
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


class MemoryStore(StoreMethods):
    """Per-player memory of every character in one world, in one SQLite file.

    ``path`` is the world file (created if missing; ``":memory:"`` for a throw-away store).
    ``embedder`` turns on semantic recall (memories are embedded lazily, in batches, by
    :meth:`embed_pending` or at the next recall). ``weights`` set how recall ranks. ``clock``
    gives the time for records that do not pass one (game time or wall time, in seconds).
    ``segmentation`` picks how Chinese is split for the index (fixed once a file has data).
    ``busy_timeout`` is how long a busy file is retried before :class:`StoreError`;
    ``embed_on_recall`` bounds how many waiting memories a recall embeds first;
    ``approximate_from`` is the number of embedded memories from which a conversation is
    searched through a coarse index instead of scoring every memory's embedding
    (see :func:`engine.memory.ranking.relevance_at`; 0 always uses the index);
    ``lexical_budget`` bounds what a full-text search scores: when a query's words are found
    in more of the player's memories than this (each word counted), its most frequent words
    only add to the score of memories that hold a rarer one (0 scores every match).

    A ``postgresql://`` URL for ``path`` opens the world in PostgreSQL instead
    (:class:`engine.memory.postgres.PostgresMemoryStore`, same methods; needs the ``postgres``
    extra).
    """

    def __new__(cls, path: str | Path = ":memory:", *args: Any, **kwargs: Any) -> MemoryStore:
        if cls is MemoryStore and is_postgres_url(path):
            from engine.memory.postgres.store import PostgresMemoryStore

            # Not a subclass (it would import this module back): built here, and Python does
            # not call __init__ again on an object that is not an instance of ``cls``.
            store = object.__new__(PostgresMemoryStore)
            PostgresMemoryStore.__init__(store, path, *args, **kwargs)
            return cast(MemoryStore, store)
        return super().__new__(cls)
