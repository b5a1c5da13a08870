"""MemoryStore basics: turns, memories, facts, relationships, summaries, names, schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from engine.errors import NotFoundError, StoreError
from engine.memory import MemoryStore
from engine.persona import RelationshipDefaults


def test_add_turn_returns_record_with_id_and_time(store: MemoryStore, clock) -> None:
    turn = store.add_turn("mira", "p1", "p1", "Hello there")
    assert turn.id > 0
    assert turn.time == clock.now
    assert (turn.character, turn.player, turn.speaker, turn.text) == (
        "mira",
        "p1",
        "p1",
        "Hello there",
    )


def test_recent_turns_are_oldest_first_and_limited(store: MemoryStore) -> None:
    for i in range(5):
        store.add_turn("mira", "p1", "p1" if i % 2 == 0 else "mira", f"line {i}", time=float(i))
    recent = store.recent_turns("mira", "p1", limit=3)
    assert [t.text for t in recent] == ["line 2", "line 3", "line 4"]


def test_add_turns_is_one_batch_with_ids_in_order(store: MemoryStore) -> None:
    ids = store.add_turns(
        {"character": "mira", "player": "p1", "speaker": "p1", "text": f"t{i}", "time": i}
        for i in range(10)
    )
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert [t.id for t in store.recent_turns("mira", "p1", limit=100)] == ids


def test_add_turns_rejects_a_row_without_text_and_writes_nothing(store: MemoryStore) -> None:
    rows = [
        {"character": "mira", "player": "p1", "speaker": "p1", "text": "fine"},
        {"character": "mira", "player": "p1", "speaker": "p1", "text": ""},
    ]
    with pytest.raises(StoreError, match="turn 1"):
        store.add_turns(rows)
    assert store.recent_turns("mira", "p1") == []


def test_turn_becomes_an_observation_memory(store: MemoryStore) -> None:
    turn = store.add_turn("mira", "p1", "p1", "I keep bees")
    [memory] = store.memories("mira", "p1")
    assert memory.kind == "observation"
    assert memory.turn_ids == [turn.id]
    assert memory.present == ["mira", "p1"]
    assert memory.speaker == "p1"


def test_memories_are_newest_first(store: MemoryStore) -> None:
    a = store.add_memory("mira", "p1", "first")
    b = store.add_memory("mira", "p1", "second")
    assert [m.id for m in store.memories("mira", "p1")] == [b.id, a.id]


@pytest.mark.parametrize("importance, stored", [(0, 1.0), (5.5, 5.5), (42, 10.0)])
def test_importance_is_clamped_to_one_to_ten(store: MemoryStore, importance, stored) -> None:
    memory = store.add_memory("mira", "p1", "x", importance=importance)
    assert memory.importance == stored
    store.set_importance(memory.id, importance)
    assert store.get_memory(memory.id).importance == stored


def test_unknown_memory_kind_is_refused(store: MemoryStore) -> None:
    with pytest.raises(StoreError, match="kind"):
        store.add_memory("mira", "p1", "x", kind="dream")  # type: ignore[arg-type]


def test_set_importance_of_missing_memory_raises_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.set_importance(999, 3)


def test_fact_with_new_object_supersedes_old_one(store: MemoryStore) -> None:
    old = store.add_fact("mira", "p1", "player", "favourite colour", "blue")
    new = store.add_fact("mira", "p1", "player", "Favourite colour", "green", source_turns=[3])
    assert [f.object for f in store.facts("mira", "p1")] == ["green"]
    kept = {f.id: f for f in store.facts("mira", "p1", include_superseded=True)}
    assert kept[old.id].superseded_by == new.id
    assert kept[new.id].source_turns == [3]


def test_repeated_fact_raises_confidence_without_duplicating(store: MemoryStore) -> None:
    store.add_fact("mira", "p1", "player", "lives in", "Oakvale", confidence=0.5, source_turns=[1])
    fact = store.add_fact(
        "mira", "p1", "player", "lives in", "oakvale", confidence=0.9, source_turns=[2]
    )
    assert fact.confidence == 0.9
    assert fact.source_turns == [1, 2]
    assert len(store.facts("mira", "p1", include_superseded=True)) == 1


def test_relationship_starts_from_defaults(store: MemoryStore) -> None:
    rel = store.relationship(
        "mira", "p1", defaults=RelationshipDefaults(affinity=10, familiarity=0)
    )
    assert (rel.affinity, rel.trust, rel.familiarity, rel.stage) == (10, 0, 0, "stranger")


def test_adjust_relationship_caps_change_per_turn_and_derives_stage(store: MemoryStore) -> None:
    d = RelationshipDefaults(max_change_per_turn=5)
    rel = store.adjust_relationship("mira", "p1", affinity=50, familiarity=3, defaults=d)
    assert (rel.affinity, rel.familiarity) == (5, 3)
    for _ in range(10):
        rel = store.adjust_relationship(
            "mira", "p1", affinity=5, trust=5, familiarity=5, defaults=d
        )
    assert rel.stage == "friend"
    assert store.relationship("mira", "p1").affinity == 55


@pytest.mark.parametrize(
    "affinity, trust, familiarity, stage",
    [
        (-70, 0, 50, "enemy"),
        (-30, 0, 50, "hostile"),
        (-5, -5, 50, "wary"),
        (0, 0, 0, "stranger"),
        (10, 0, 10, "acquaintance"),
        (30, 10, 40, "friend"),
        (70, 60, 60, "close friend"),
    ],
)
def test_stage_is_derived_from_numbers(affinity, trust, familiarity, stage) -> None:
    from engine.memory import derive_stage

    assert derive_stage(affinity, trust, familiarity) == stage


def test_relationship_counts_turns(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "hi")
    store.add_turn("mira", "p1", "mira", "hello")
    assert store.relationship("mira", "p1").turns == 2


def test_the_turn_count_follows_new_lines_other_writers_and_forgetting(
    store: MemoryStore, world: str
) -> None:
    for i in range(3):
        store.add_turn("mira", "p1", "p1", f"line {i}")
    store.add_turn("mira", "p2", "p2", "another conversation")
    assert store.relationship("mira", "p1").turns == 3
    with MemoryStore(world) as other:  # another connection to the same file
        other.add_turns([{"character": "mira", "player": "p1", "speaker": "mira", "text": "x"}])
    assert store.relationship("mira", "p1").turns == 4
    store.forget_memory(store.memories("mira", "p1")[0].id)
    assert store.relationship("mira", "p1").turns == 3
    store.forget("p1")
    assert store.relationship("mira", "p1").turns == 0
    assert store.relationship("mira", "p2").turns == 1


def test_summary_text_alone(store: MemoryStore) -> None:
    ids = [store.add_turn("mira", "p1", "p1", f"line {i}").id for i in range(3)]
    assert store.summary_text("mira", "p1") is None
    store.set_summary("mira", "p1", "They talked.", ids)
    assert store.summary_text("mira", "p1") == "They talked."


def test_summary_round_trip_and_unsummarised_turns(store: MemoryStore) -> None:
    ids = [store.add_turn("mira", "p1", "p1", f"line {i}").id for i in range(6)]
    assert store.summary("mira", "p1") is None
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=2)] == ids[:4]
    store.set_summary("mira", "p1", "They talked.", ids[:3])
    assert store.summary("mira", "p1").turn_ids == ids[:3]  # type: ignore[union-attr]
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=2)] == [ids[3]]


def test_unsummarised_turns_are_the_oldest_first_up_to_a_limit(store: MemoryStore) -> None:
    ids = [store.add_turn("mira", "p1", "p1", f"line {i}").id for i in range(10)]
    store.add_turn("bram", "p1", "p1", "another conversation")
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=3, limit=4)] == ids[:4]
    store.set_summary("mira", "p1", "They talked.", ids[:4])
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=3, limit=2)] == ids[
        4:6
    ]
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=3)] == ids[4:7]
    assert store.unsummarised_turns("mira", "p1", keep_recent=11) == []
    assert store.unsummarised_turns("mira", "p1", keep_recent=3, limit=0) == []


def test_a_summary_that_leaves_older_turns_out_still_has_them_found(store: MemoryStore) -> None:
    # set_summary is public: a summary may cover turns 1 and 3 and leave 2 out
    ids = [store.add_turn("mira", "p1", "p1", f"line {i}").id for i in range(6)]
    store.set_summary("mira", "p1", "They talked.", [ids[0], ids[2]])
    found = store.unsummarised_turns("mira", "p1", keep_recent=1)
    assert [t.id for t in found] == [ids[1], ids[3], ids[4]]
    limited = store.unsummarised_turns("mira", "p1", keep_recent=1, limit=2)
    assert [t.id for t in limited] == [ids[1], ids[3]]


def test_summary_is_dropped_when_a_covered_turn_is_forgotten(store: MemoryStore) -> None:
    turns = [store.add_turn("mira", "p1", "p1", f"line {i}") for i in range(4)]
    store.set_summary("mira", "p1", "They talked.", [t.id for t in turns[:3]])
    memory = next(m for m in store.memories("mira", "p1") if m.turn_ids == [turns[1].id])
    store.forget_memory(memory.id)
    assert store.summary("mira", "p1") is None
    assert [t.id for t in store.unsummarised_turns("mira", "p1", keep_recent=0)] == [
        turns[0].id,
        turns[2].id,
        turns[3].id,
    ]


def test_summary_cannot_cover_turns_of_another_conversation(store: MemoryStore) -> None:
    other = store.add_turn("bram", "p1", "p1", "hi bram")
    with pytest.raises(StoreError):
        store.set_summary("mira", "p1", "x", [other.id])


def test_player_name_and_has_met(store: MemoryStore) -> None:
    assert store.player_name("p1") is None
    assert not store.has_met("mira", "p1")
    store.set_player_name("p1", "Ada")
    store.add_turn("mira", "p1", "p1", "hi")
    assert store.player_name("p1") == "Ada"
    assert store.has_met("mira", "p1")
    assert not store.has_met("bram", "p1")


def test_forget_memory_removes_it_and_its_turn(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "My secret is the blue key")
    store.add_turn("mira", "p1", "mira", "I will keep it")
    secret = next(m for m in store.memories("mira", "p1") if "secret" in m.text)
    store.forget_memory(secret.id)
    assert all("secret" not in m.text for m in store.memories("mira", "p1"))
    assert [t.text for t in store.recent_turns("mira", "p1")] == ["I will keep it"]
    assert store.recall("mira", "p1", "secret blue key") == []
    with pytest.raises(NotFoundError):
        store.forget_memory(secret.id)


def test_history_records_inserts_updates_and_deletes_with_reasons(store: MemoryStore) -> None:
    memory = store.add_memory("mira", "p1", "x", reason="reflection on the day")
    store.set_importance(memory.id, 9, reason="player cried")
    store.forget_memory(memory.id, reason="player asked")
    rows = list(store.db.query("SELECT op, entity, reason FROM history WHERE entity = 'memory'"))
    assert [(r["op"], r["reason"]) for r in rows] == [
        ("insert", "reflection on the day"),
        ("update", "player cried"),
        ("delete", "player asked"),
    ]


def test_schema_is_applied_by_migrations_and_file_is_wal(world_path: Path) -> None:
    MemoryStore(world_path).close()
    db = sqlite_utils.Database(world_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r["name"] for r in db.query("SELECT name FROM _sqlite_migrations")}
    assert "m001_initial" in names
    assert {"turns", "memories", "facts", "relationships", "summaries", "history"} <= set(
        db.table_names()
    )
    # Opening again applies nothing new and keeps data.
    with MemoryStore(world_path) as s:
        s.add_turn("mira", "p1", "p1", "hello")
    with MemoryStore(world_path) as s:
        assert len(s.recent_turns("mira", "p1")) == 1


def test_a_file_that_is_not_sqlite_raises_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        MemoryStore(bad)


def test_in_memory_store_works() -> None:
    with MemoryStore(":memory:") as s:
        s.add_turn("mira", "p1", "p1", "hello world")
        assert s.recall("mira", "p1", "world")


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)  # SQLite internals
def test_store_db_is_a_sqlite_utils_database(store: MemoryStore) -> None:
    assert isinstance(store.db, sqlite_utils.Database)
    assert isinstance(store.db.conn, sqlite3.Connection)


def test_turns_over_budget_returns_oldest_turns_that_do_not_fit(store: MemoryStore) -> None:
    ids = [store.add_turn("mira", "p1", "p1", "word " * 20).id for _ in range(10)]
    assert store.turns_over_budget("mira", "p1", budget_tokens=10_000) == []
    over = store.turns_over_budget("mira", "p1", budget_tokens=60, keep_recent=2)
    assert [t.id for t in over] == ids[: len(over)] and 0 < len(over) < 10
    store.set_summary("mira", "p1", "They said words.", [t.id for t in over])
    assert store.turns_over_budget("mira", "p1", budget_tokens=60, keep_recent=2) == []


def test_turns_over_budget_always_keeps_the_most_recent(store: MemoryStore) -> None:
    ids = [store.add_turn("mira", "p1", "p1", "word " * 50).id for _ in range(5)]
    over = store.turns_over_budget("mira", "p1", budget_tokens=1, keep_recent=3)
    assert [t.id for t in over] == ids[:2]
