"""The full-text index is partitioned by player: every indexed word carries the player's prefix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.memory import MemoryStore
from engine.memory.schema import FTS_TABLE
from engine.memory.text import scope_prefix, scoped


def _terms(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, {FTS_TABLE}, 'row')")
        return {r[0] for r in conn.execute("SELECT term FROM temp.v")}
    finally:
        conn.close()


def test_scope_prefixes_have_one_length_and_differ_per_player() -> None:
    prefixes = {scope_prefix(f"player-{i}") for i in range(500)}
    assert len(prefixes) == 500
    assert {len(p) for p in prefixes} == {16}
    assert all(p[0] == "q" and p[1:].isdigit() for p in prefixes)


def test_scoped_prefixes_every_word_and_keeps_punctuation() -> None:
    assert scoped("Hi, Caroline! 摩托车 2023", "q1") == "q1Hi, q1Caroline! q1摩托车 q12023"
    assert scoped("", "q1") == ""


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)  # SQLite internals
def test_every_indexed_word_carries_its_players_prefix(store: MemoryStore) -> None:
    store.add_turn("mira", "alice", "alice", "I paint lighthouses")
    store.add_turn("mira", "bob", "bob", "I paint boats")
    store.add_memory("mira", "bob", "Bob fixes engines", kind="reflection")
    terms = _terms(store.path)
    prefixes = (scope_prefix("alice"), scope_prefix("bob"))
    assert terms and all(t.startswith(prefixes) for t in terms)
    # The same word has separate postings per player.
    assert {p + "paint" for p in prefixes} <= terms
    # Recall searches every column (no column filter): it relies on `scope` staying empty.
    assert {r[0] for r in store.db.execute(f"SELECT DISTINCT scope FROM {FTS_TABLE}")} == {""}


def test_recall_ranks_by_word_rarity_within_the_players_memories(store: MemoryStore) -> None:
    # "boat" is common for other players but rare in alice's memories: it still decides.
    for i in range(30):
        store.add_turn("mira", f"other{i}", f"other{i}", "my boat my boat my boat")
    store.add_turn("mira", "alice", "alice", "I sail a boat on Sundays")
    for i in range(5):
        store.add_turn("mira", "alice", "alice", f"The weather is mild today, day {i}")
    got = store.recall("mira", "alice", "boat weather", k=1)
    assert got[0].memory.text == "I sail a boat on Sundays"


def test_old_files_are_reindexed_with_player_prefixes(world_path: Path) -> None:
    with MemoryStore(world_path) as s:
        s.add_turn("mira", "alice", "alice", "I keep bees behind the mill")
        s.add_turn("mira", "alice", "mira", "Honey for the whole village then")
        s.add_turn("mira", "bob", "bob", "I keep goats")
    # Rewrite the index as files before the partitioning held it: plain words, a scope token.
    conn = sqlite3.connect(world_path)
    with conn:
        rows = conn.execute(
            f"SELECT f.rowid, m.player, f.speaker, f.text, f.context FROM {FTS_TABLE} f"
            " JOIN memories m ON m.id = f.rowid"
        ).fetchall()
        conn.execute(f"DELETE FROM {FTS_TABLE}")
        for rowid, player, *cols in rows:
            plain = [c.replace(scope_prefix(player), "") for c in cols]
            conn.execute(
                f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context)"
                " VALUES (?, 'p123', ?, ?, ?)",
                (rowid, *plain),
            )
        conn.execute(
            "DELETE FROM _sqlite_migrations WHERE name IN"
            " ('m003_index_partitioned_by_player', 'm004_embed_queue_player_index')"
        )
        conn.execute("DROP INDEX idx_embed_queue_player")
    conn.close()
    assert "bee" in _terms(world_path)

    with MemoryStore(world_path) as s:
        got = s.recall("mira", "alice", "bees", k=3)
        assert got and got[0].memory.text == "I keep bees behind the mill"
        assert s.recall("mira", "bob", "bees") == []
        assert [r.memory.text for r in s.recall("mira", "bob", "goats")] == ["I keep goats"]
        scopes = {r[0] for r in s.db.execute(f"SELECT scope FROM {FTS_TABLE}")}
        assert scopes == {""}
    terms = _terms(world_path)
    assert "bee" not in terms and scope_prefix("alice") + "bee" in terms


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)  # SQLite internals
def test_pending_embeddings_of_one_player_are_found_by_index(store: MemoryStore) -> None:
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT memory_id, player, text FROM embed_queue WHERE player = ?"
        " ORDER BY memory_id LIMIT 10",
        ["p1"],
    ).fetchall()
    assert any("idx_embed_queue_player" in str(row[-1]) for row in plan)
