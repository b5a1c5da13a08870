"""The world file's schema, as a sqlite-utils migration set.

Every table is a plain table with documented columns (see ``docs/memory.md``) so the file stays
readable with the ``sqlite-utils`` CLI and Datasette. JSON lists are stored as TEXT.
Migrations are append-only: add a new function, never edit an applied one.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from engine.memory.text import scope_prefix, scoped

__all__ = ["FTS_TABLE", "MIGRATIONS", "TABLES"]

MIGRATIONS = Migrations("engine.memory")

FTS_TABLE = "memories_fts"

#: Every table the store writes, for export/forget and the tests that scan them.
TABLES = (
    "turns",
    "memories",
    "memory_witnesses",
    "memory_vectors",
    "embed_queue",
    "facts",
    "relationships",
    "summaries",
    "players",
    "history",
    "store_meta",
    "characters",
    FTS_TABLE,
)


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    """Turns, memories (+ witnesses, FTS index, vectors), facts, relationships, summaries."""
    db["turns"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "character": str,
            "player": str,
            "speaker": str,
            "text": str,
            "time": float,
            "session": str,
            "memory_id": int,
        },
        pk="id",
        not_null={"character", "player", "speaker", "text", "time"},
    )
    db.execute("CREATE INDEX idx_turns_pair ON turns (character, player, id)")
    db.execute("CREATE INDEX idx_turns_player ON turns (player)")
    db.execute("CREATE INDEX idx_turns_speaker ON turns (speaker)")

    db["memories"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "character": str,
            "player": str,
            "kind": str,
            "text": str,
            "importance": float,
            "created": float,
            "last_accessed": float,
            "turn_ids": str,
            "present": str,
            "speaker": str,
        },
        pk="id",
        not_null={"character", "player", "kind", "text", "importance", "created", "last_accessed"},
        defaults={"turn_ids": "[]", "present": "[]", "speaker": ""},
    )
    db.execute("CREATE INDEX idx_memories_pair ON memories (player, character, id)")

    db["memory_witnesses"].create(  # type: ignore[union-attr]
        {"memory_id": int, "witness": str, "player": str},
        pk=("memory_id", "witness"),
        not_null={"player"},
    )
    db.execute("CREATE INDEX idx_witness_scope ON memory_witnesses (player, witness, memory_id)")
    db.execute("CREATE INDEX idx_witness_who ON memory_witnesses (witness)")

    # A plain (content-storing) FTS5 table: rowid = memories.id. `scope` holds a token derived
    # from the player id so a query only walks that player's postings.
    db.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
        "scope, speaker, text, context, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )

    db["memory_vectors"].create(  # type: ignore[union-attr]
        {"memory_id": int, "model": str, "player": str, "vector": bytes},
        pk=("memory_id", "model"),
        not_null={"player", "vector"},
    )
    db.execute("CREATE INDEX idx_vectors_player ON memory_vectors (player, model, memory_id)")
    db["embed_queue"].create(  # type: ignore[union-attr]
        {"memory_id": int, "player": str, "text": str}, pk="memory_id"
    )

    db["facts"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "character": str,
            "player": str,
            "subject": str,
            "predicate": str,
            "object": str,
            "confidence": float,
            "source_turns": str,
            "created": float,
            "superseded_by": int,
        },
        pk="id",
        not_null={"character", "player", "subject", "predicate", "object", "confidence", "created"},
        defaults={"source_turns": "[]"},
    )
    db.execute("CREATE INDEX idx_facts_pair ON facts (character, player, subject, predicate)")
    db.execute("CREATE INDEX idx_facts_player ON facts (player)")

    db["relationships"].create(  # type: ignore[union-attr]
        {
            "character": str,
            "player": str,
            "affinity": float,
            "trust": float,
            "familiarity": float,
            "stage": str,
            "updated": float,
        },
        pk=("character", "player"),
        not_null={"affinity", "trust", "familiarity", "stage", "updated"},
    )
    db.execute("CREATE INDEX idx_relationships_player ON relationships (player)")

    db["summaries"].create(  # type: ignore[union-attr]
        {"character": str, "player": str, "text": str, "turn_ids": str, "updated": float},
        pk=("character", "player"),
        not_null={"text", "turn_ids", "updated"},
    )
    db.execute("CREATE INDEX idx_summaries_player ON summaries (player)")

    db["players"].create(  # type: ignore[union-attr]
        {"player": str, "name": str, "updated": float}, pk="player"
    )

    db["history"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "time": float,
            "op": str,
            "entity": str,
            "entity_id": str,
            "character": str,
            "player": str,
            "reason": str,
            "detail": str,
        },
        pk="id",
        not_null={"time", "op", "entity"},
    )
    db.execute("CREATE INDEX idx_history_player ON history (player)")

    db["store_meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


@MIGRATIONS()
def m002_turn_memory_index(db: Database) -> None:
    """Find a memory's dialogue line quickly (recall views, forget_memory)."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_turns_memory ON turns (memory_id)")


@MIGRATIONS()
def m003_index_partitioned_by_player(db: Database) -> None:
    """Re-index every memory with its player's prefix on each word (no separate scope token).

    A search then walks only the player's postings, and bm25 weighs words by how rare they are
    in that player's memories. Rows are rewritten in rowid order, a chunk at a time.
    """
    last = 0
    prefixes: dict[str, str] = {}
    while True:
        rows = db.execute(
            f"SELECT f.rowid, m.player, f.speaker, f.text, f.context FROM {FTS_TABLE} f"
            " JOIN memories m ON m.id = f.rowid WHERE f.rowid > ? ORDER BY f.rowid LIMIT 5000",
            (last,),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        marks = ",".join("?" * len(rows))
        db.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", [r[0] for r in rows])
        out = []
        for rowid, player, speaker, text, context in rows:
            prefix = prefixes.setdefault(player, scope_prefix(player))
            out.append(
                (
                    rowid,
                    scoped(speaker or "", prefix),
                    scoped(text or "", prefix),
                    scoped(context or "", prefix),
                )
            )
        db.conn.executemany(
            f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context) VALUES (?, '', ?, ?, ?)",
            out,
        )
    # Index rows without a memory cannot be searched for anyone: drop them.
    db.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid NOT IN (SELECT id FROM memories)")
    db.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")


@MIGRATIONS()
def m004_embed_queue_player_index(db: Database) -> None:
    """Find one player's pending embeddings without scanning the queue."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_embed_queue_player ON embed_queue (player, memory_id)"
    )


@MIGRATIONS()
def m005_character_registry(db: Database) -> None:
    """A table of the world's character ids, so player ids and character ids stay apart.

    Filled from every table with a ``character`` column; no existing row is changed. The
    store refuses a player id that is a character id (and the reverse) from here on, and player
    rights reach through ``speaker`` and witness columns only for ids that are not characters.
    """
    db.execute("CREATE TABLE IF NOT EXISTS characters (character TEXT PRIMARY KEY)")
    for table in ("turns", "memories", "relationships", "facts", "summaries"):
        db.execute(
            f"INSERT OR IGNORE INTO characters (character) SELECT DISTINCT character FROM {table}"
        )
