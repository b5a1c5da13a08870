"""Player rights: export everything stored about a player, or forget them entirely.

Functions of a store (:class:`~engine.memory.MemoryStore` calls them for its ``export`` and
``forget``). They take a player id; an id that names a character is refused (a
:class:`StoreError`): a character's lines are part of every player's conversations with it.
What the backends do differently (the ledger's tables, vectors, compacting) they reach through
the store's own methods.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from engine.errors import StoreError
from engine.memory.base import (
    StoreBase,
    bump_generation,
)

__all__ = ["export", "forget"]

logger = logging.getLogger(__name__)


def _player_scope(conn: Any, player: str) -> bool:
    """Whether rights on ``player`` may follow the id into ``speaker`` and witness columns.

    Not when the id is a character's: those columns would then hold every line the
    character said to anyone. A world written before the namespaces were kept apart may
    hold a player with a character's id; their rows by the ``player`` column are still theirs.
    Raises :class:`StoreError` for an id that is only a character's."""
    if not conn.execute("SELECT 1 FROM characters WHERE character = ?", (player,)).fetchone():
        return True
    own = (
        conn.execute("SELECT 1 FROM turns WHERE player = ? LIMIT 1", (player,)).fetchone()
        or conn.execute("SELECT 1 FROM memories WHERE player = ? LIMIT 1", (player,)).fetchone()
    )
    if not own:
        raise StoreError(
            f"{player!r} is a character id, not a player id; player rights apply to players"
        )
    logger.warning(
        "id %r names a character and a player: rights reach its rows as a player only", player
    )
    return False


def export(store: StoreBase, player: str, *, include_vectors: bool = False) -> dict[str, Any]:
    """Everything stored about ``player``, as JSON-ready data.

    Embedding vectors are listed by memory and model; ``include_vectors`` adds the numbers.
    """
    store.flush()  # last-accessed times recalls set are part of what is stored

    def read(conn: Any) -> dict[str, Any]:
        def rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
            cur = conn.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        wide = _player_scope(conn, player)
        # As a speaker or a witness, the id means this player only when no character has it.
        spoke = " OR speaker = ?" if wide else ""
        witnessed = (
            " OR id IN (SELECT memory_id FROM memory_witnesses WHERE witness = ?)" if wide else ""
        )
        data: dict[str, Any] = {"player": player, "name": None}
        name = conn.execute("SELECT name FROM players WHERE player = ?", (player,)).fetchone()
        data["name"] = name[0] if name else None
        data["turns"] = rows(
            f"SELECT * FROM turns WHERE player = ?{spoke} ORDER BY id",
            (player, player)[: 1 + bool(wide)],
        )
        memories = rows(
            f"SELECT * FROM memories WHERE player = ?{witnessed} ORDER BY id",
            (player, player)[: 1 + bool(wide)],
        )
        for m in memories:
            m["turn_ids"] = json.loads(m["turn_ids"] or "[]")
            m["present"] = json.loads(m["present"] or "[]")
        data["memories"] = memories
        facts = rows("SELECT * FROM facts WHERE player = ? ORDER BY id", (player,))
        for f in facts:
            f["source_turns"] = json.loads(f["source_turns"] or "[]")
        data["facts"] = facts
        data["relationships"] = rows(
            "SELECT * FROM relationships WHERE player = ? ORDER BY character", (player,)
        )
        summaries = rows("SELECT * FROM summaries WHERE player = ? ORDER BY character", (player,))
        for s in summaries:
            s["turn_ids"] = json.loads(s["turn_ids"] or "[]")
        data["summaries"] = summaries
        vectors = []
        for r in conn.execute(
            "SELECT memory_id, model, vector FROM memory_vectors WHERE player = ? ORDER BY memory_id",
            (player,),
        ):
            item: dict[str, Any] = {"memory_id": r[0], "model": r[1]}
            if include_vectors:
                item["vector"] = [round(float(x), 6) for x in store._vector_values(r[2])]
            vectors.append(item)
        data["embeddings"] = vectors
        history = rows("SELECT * FROM history WHERE player = ? ORDER BY id", (player,))
        for h in history:
            h["detail"] = json.loads(h["detail"]) if h["detail"] else None
        data["history"] = history
        # Usage, quota and audit rows live in the same file when the world is metered.
        data["ledger"] = {
            table: rows(f"SELECT * FROM {table} WHERE player = ? ORDER BY {order}", (player,))
            for table, order in store._ledger_tables_ordered(conn)
        }
        return data

    return store._read_with(read)


def forget(store: StoreBase, player: str, *, reason: str = "player request") -> None:
    """Remove everything stored about ``player``: rows, index entries, embeddings, history.

    Lines the player spoke in other players' conversations go too, and the player leaves
    the witness lists of other memories. The full-text index is then rebuilt without the
    removed entries and the write-ahead log is checkpointed, so no copy of the text stays
    in the file. History keeps one line saying a player was forgotten, without their id.
    """

    def write(conn: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        store._lock_players(conn, [player])
        if not _player_scope(conn, player):
            return _forget_rows_only(store, conn, player, reason)
        spoken = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM turns WHERE speaker = ? AND player != ?", (player, player)
            )
        ]
        spoken_memories = [
            r[0]
            for r in conn.execute(
                "SELECT memory_id FROM turns WHERE speaker = ? AND player != ?"
                " AND memory_id IS NOT NULL",
                (player, player),
            )
        ]
        own = [r[0] for r in conn.execute("SELECT id FROM memories WHERE player = ?", (player,))]
        store._delete_memories(conn, own + spoken_memories)
        counts["memories"] = len(own) + len(spoken_memories)
        store._delete_turns(conn, spoken, reason)
        counts["turns"] = (
            len(spoken) + conn.execute("DELETE FROM turns WHERE player = ?", (player,)).rowcount
        )
        # Other memories the player witnessed: drop them from the witness lists.
        seen = [
            r[0]
            for r in conn.execute(
                "SELECT memory_id FROM memory_witnesses WHERE witness = ?", (player,)
            )
        ]
        for mid in seen:
            row = conn.execute("SELECT present FROM memories WHERE id = ?", (mid,)).fetchone()
            if row:
                present = [p for p in json.loads(row[0] or "[]") if p != player]
                conn.execute(
                    "UPDATE memories SET present = ? WHERE id = ?",
                    (json.dumps(present, ensure_ascii=False), mid),
                )
        conn.execute("DELETE FROM memory_witnesses WHERE witness = ?", (player,))
        _delete_filed_under(store, conn, player, counts)
        conn.execute(
            "DELETE FROM history WHERE player = ? OR (entity = 'player' AND entity_id = ?)",
            (player, player),
        )
        store._log(conn, "delete", "player", None, None, None, reason, counts)
        bump_generation(conn)
        return counts

    counts = store._write(write)
    store._drop_vector_cache(None)
    store._compact()
    logger.info("forgot a player: %s", counts)


def _delete_filed_under(store: StoreBase, conn: Any, player: str, counts: dict[str, int]) -> None:
    """Delete the rows filed under ``player`` in the tables keyed by player alone (vectors,
    queue, facts, relationships, summaries, the player's row, the ledger), counting them."""
    for table in ("memory_vectors", "embed_queue", "facts", "relationships", "summaries"):
        counts[table] = conn.execute(f"DELETE FROM {table} WHERE player = ?", (player,)).rowcount
    conn.execute("DELETE FROM players WHERE player = ?", (player,))
    for table in store._ledger_tables(conn):
        counts[table] = conn.execute(f"DELETE FROM {table} WHERE player = ?", (player,)).rowcount


def _forget_rows_only(store: StoreBase, conn: Any, player: str, reason: str) -> dict[str, int]:
    """forget() for an id that also names a character (an old world): the rows filed under
    the player, and nothing the character said or saw elsewhere."""
    counts: dict[str, int] = {}
    own = [r[0] for r in conn.execute("SELECT id FROM memories WHERE player = ?", (player,))]
    store._delete_memories(conn, own)
    counts["memories"] = len(own)
    counts["turns"] = conn.execute("DELETE FROM turns WHERE player = ?", (player,)).rowcount
    _delete_filed_under(store, conn, player, counts)
    conn.execute("DELETE FROM history WHERE player = ?", (player,))
    store._log(conn, "delete", "player", None, None, None, reason, counts)
    bump_generation(conn)
    return counts
