"""Player rights: export everything about a player; forget leaves no trace anywhere in the file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fixtures_memory import HashEmbedder

from engine.memory import MemoryStore

MARK = "zanzibarquokka"  # a word nothing else in the file contains


def _fill(store: MemoryStore) -> None:
    store.set_player_name("p1", f"Ada {MARK}")
    store.add_turn("mira", "p1", "p1", f"My pet is called {MARK}")
    store.add_turn("mira", "p1", "mira", "What a lovely name")
    store.add_turn("bram", "p1", "p1", f"Have you seen {MARK} around?")
    store.add_memory("mira", "p1", f"Ada loves {MARK}", kind="reflection", importance=8)
    store.add_fact("mira", "p1", "player", "pet", MARK)
    store.adjust_relationship("mira", "p1", affinity=3, reason=f"talked about {MARK}")
    turns = store.recent_turns("mira", "p1")
    store.set_summary("mira", "p1", f"Ada has a pet {MARK}", [turns[0].id])
    # p1 also speaks in p2's conversation, and witnesses a scene of p2's.
    store.add_turn("mira", "p2", "p1", f"{MARK} says hi to you", present=["mira", "p2", "p1"])
    store.add_turn("mira", "p2", "p2", "I am p2 and I like trains", present=["mira", "p2", "p1"])
    store.add_turn("mira", "p2", "mira", "Trains are loud")
    store.embed_pending()


def _scan_file(path: Path) -> bytes:
    data = path.read_bytes()
    wal = Path(str(path) + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


def test_export_holds_everything_about_the_player(world: str) -> None:
    with MemoryStore(world, embedder=HashEmbedder()) as store:
        _fill(store)
        data = store.export("p1")
    text = json.dumps(data, ensure_ascii=False)
    assert data["name"] == f"Ada {MARK}"
    assert len(data["turns"]) == 4
    assert {m["kind"] for m in data["memories"]} == {"observation", "reflection"}
    assert data["facts"][0]["object"] == MARK
    assert data["relationships"][0]["affinity"] == 3
    assert data["summaries"][0]["text"].endswith(MARK)
    assert data["embeddings"] and "vector" not in data["embeddings"][0]
    assert data["history"]
    assert "trains" in text  # a scene p1 witnessed


def test_forget_leaves_no_trace_in_any_table_index_or_file(world_path: Path) -> None:
    with MemoryStore(world_path, embedder=HashEmbedder()) as store:
        _fill(store)
        p2_memories_before = {m.id for m in store.memories("mira", "p2")}
        store.forget("p1")
        # What belongs to p2 and did not come from p1 stays.
        left = store.memories("mira", "p2")
        assert {m.text for m in left} == {"I am p2 and I like trains", "Trains are loud"}
        assert {m.id for m in left} < p2_memories_before
        assert all("p1" not in m.present for m in left)
        assert store.recall("mira", "p2", "trains")
        assert store.recall("mira", "p1", MARK) == []
        assert store.export("p1")["turns"] == []

    conn = sqlite3.connect(world_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert any(t.startswith("memories_fts_") for t in tables)  # shadow tables are scanned too
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                blob = value if isinstance(value, bytes) else str(value).encode()
                assert MARK.encode() not in blob, table
                if table not in ("_sqlite_migrations",) and isinstance(value, str):
                    assert value != "p1", (table, row)
    # The FTS index answers nothing for the word, under any tokenisation.
    assert (
        conn.execute(
            "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (MARK,)
        ).fetchone()[0]
        == 0
    )
    conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, memories_fts, 'row')")
    terms = {r[0] for r in conn.execute("SELECT term FROM temp.v")}
    assert not any(MARK[:8] in t for t in terms)
    assert (
        conn.execute("SELECT count(*) FROM memory_vectors WHERE player = 'p1'").fetchone()[0] == 0
    )
    conn.close()
    # Not even freed pages or the write-ahead log keep the bytes.
    assert MARK.encode() not in _scan_file(world_path)


def test_forget_leaves_no_trace_in_any_postgres_table(pg_url: str) -> None:
    with MemoryStore(pg_url, embedder=HashEmbedder()) as store:
        _fill(store)
        store.forget("p1")
        assert {m.text for m in store.memories("mira", "p2")} == {
            "I am p2 and I like trains",
            "Trains are loud",
        }
        assert store.recall("mira", "p2", "trains")
        assert store.recall("mira", "p1", MARK) == []
        tables = [
            r[0]
            for r in store.db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        ]
        assert set(store.tables()) <= set(tables)
        for table in tables:
            for row in store.db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    assert MARK not in str(value), table  # tsvector lexemes included
                    if table != "schema_migrations" and isinstance(value, str):
                        assert value != "p1", (table, row)


def test_forget_keeps_one_anonymous_history_line(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "hello")
    store.forget("p1", reason="GDPR request")
    rows = list(store.db.query("SELECT * FROM history"))
    assert len(rows) == 1
    assert rows[0]["entity"] == "player" and rows[0]["player"] is None
    assert rows[0]["reason"] == "GDPR request"


def test_forget_memory_removes_its_index_entry_and_vector(world: str) -> None:
    with MemoryStore(world, embedder=HashEmbedder()) as store:
        store.add_turn("mira", "p1", "p1", f"secret {MARK}")
        store.add_turn("mira", "p1", "mira", "noted")
        store.embed_pending()
        secret = next(m for m in store.memories("mira", "p1") if MARK in m.text)
        store.forget_memory(secret.id)
        db = store.db
        assert (
            db.execute(
                "SELECT count(*) FROM memory_vectors WHERE memory_id = ?", [secret.id]
            ).fetchone()[0]
            == 0
        )
        index, key = (
            ("memory_index", "memory_id")
            if "memory_index" in store.tables()
            else ("memories_fts", "rowid")
        )
        assert (
            db.execute(f"SELECT count(*) FROM {index} WHERE {key} = ?", [secret.id]).fetchone()[0]
            == 0
        )
        # The neighbouring line's indexed context no longer holds the forgotten text.
        contexts = [r[0] for r in db.execute(f"SELECT context FROM {index}")]
        assert all(MARK not in c for c in contexts)


def test_ids_are_never_reused_after_the_newest_memory_is_forgotten(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "first")
    newest = store.add_memory("mira", "p1", "secret plan")
    store.forget_memory(newest.id)
    again = store.add_memory("mira", "p2", "another player's line")
    turn = store.add_turn("mira", "p2", "p2", "hello")
    assert again.id > newest.id
    assert turn.id > 1


def test_a_second_connection_never_recalls_what_another_forgot(world: str) -> None:
    with MemoryStore(world) as reader, MemoryStore(world) as writer:
        writer.add_turn("mira", "p1", "p1", "the password is swordfish")
        assert reader.recall("mira", "p1", "password swordfish")  # reader caches its view
        writer.forget("p1")
        writer.add_turn("mira", "p2", "p2", "swordfish password for p2")
        assert reader.recall("mira", "p1", "password swordfish") == []
        assert [h.memory.player for h in reader.recall("mira", "p2", "password swordfish")] == [
            "p2"
        ]


def test_a_second_connection_sees_a_memory_shared_by_another(world: str) -> None:
    with MemoryStore(world) as reader, MemoryStore(world) as writer:
        writer.add_turn("mira", "p1", "p1", "the treasure is under the oak")
        assert reader.recall("bram", "p1", "treasure") == []
        writer.share_memory(writer.memories("mira", "p1")[0].id, "bram")
        assert reader.recall("bram", "p1", "treasure")
