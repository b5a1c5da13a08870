"""Player ids and character ids are separate namespaces: a player id equal to a character id is
refused, and player rights (export, forget) never reach another player's data through an id
that names a character."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.errors import EngineError, StoreError
from engine.memory import MemoryStore


def _world(path: str | Path) -> MemoryStore:
    store = MemoryStore(path)
    store.add_turn("mira", "ann", "ann", "My dog is called Biscuit.")
    store.add_turn("mira", "ann", "mira", "Biscuit! What a name.")
    store.add_turn("mira", "bob", "bob", "I lost my keys by the fountain.")
    store.add_turn("mira", "bob", "mira", "I will keep an eye out, Bob.")
    return store


def test_export_of_a_character_id_is_refused_not_every_players_lines(world: str) -> None:
    with _world(world) as store:
        with pytest.raises(StoreError, match="character"):
            store.export("mira")


def test_forget_of_a_character_id_deletes_nothing(world: str) -> None:
    with _world(world) as store:
        with pytest.raises(StoreError, match="character"):
            store.forget("mira")
        assert len(store.recent_turns("mira", "ann")) == 2
        assert len(store.recent_turns("mira", "bob")) == 2


def test_the_store_refuses_a_player_id_that_is_a_character_id(world: str) -> None:
    with _world(world) as store:
        with pytest.raises(StoreError, match="mira"):
            store.add_turn("chen", "mira", "mira", "hello chen")
        with pytest.raises(StoreError, match="ann"):
            store.add_turn("ann", "bob", "bob", "hello")
        with pytest.raises(StoreError, match="mira"):
            store.add_memory("chen", "mira", "a memory")


def test_a_player_export_still_holds_their_lines_only(world: str) -> None:
    with _world(world) as store:
        data = store.export("ann")
        texts = {t["text"] for t in data["turns"]}
        assert texts == {"My dog is called Biscuit.", "Biscuit! What a name."}


def test_an_old_world_with_a_colliding_id_exports_only_that_players_rows(tmp_path: Path) -> None:
    """A world written before the namespaces were kept apart may hold a player id equal to a
    character id: the migration keeps every row, and rights reach the player's rows only."""
    path = tmp_path / "old.db"
    _world(path).close()
    conn = sqlite3.connect(path)  # what the old engine let a game write
    conn.execute(
        "INSERT INTO turns (character, player, speaker, text, time) VALUES ('chen', 'mira', 'mira', 'hi chen', 1.0)"
    )
    conn.execute("DELETE FROM store_meta WHERE key LIKE 'characters%'")
    conn.execute("DROP TABLE IF EXISTS characters")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm005%'")
    conn.commit()
    conn.close()
    with MemoryStore(path) as store:
        data = store.export("mira")
        assert [t["text"] for t in data["turns"]] == ["hi chen"]
        store.forget("mira")
        assert len(store.recent_turns("mira", "ann")) == 2
        assert len(store.recent_turns("mira", "bob")) == 2


def test_runtime_say_refuses_a_player_id_equal_to_a_character_id(make_runtime: Any) -> None:
    rt = make_runtime()
    with pytest.raises(EngineError, match="chen"):
        rt.say("mira", "chen", "hello")
    with pytest.raises(EngineError, match="chen"):
        rt.greet("mira", "chen")
