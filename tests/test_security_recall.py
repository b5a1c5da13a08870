"""One player cannot plant words in another player's part of the full-text index, and recall's
candidate limit is applied to what the character may recall, so no flood of other memories
can push a player's own memory out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.memory import MemoryStore
from engine.memory.text import scope_prefix, scoped

# Characters Python's \w reads as part of a word and SQLite's unicode61 tokenizer splits on.
SPLITTERS = "\u19b0\u19b5\u19c0\u19c8\u1cf2\u1cf3"


@pytest.mark.parametrize("splitter", SPLITTERS)
def test_a_line_cannot_plant_a_token_in_another_players_partition(splitter: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE f USING fts5(t, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, row)")
    bob = scope_prefix("bob")
    line = f"nice{splitter}{bob}biscuit"
    db.execute("INSERT INTO f (t) VALUES (?)", (scoped(line, scope_prefix("alice")),))
    tokens = [r[0] for r in db.execute("SELECT term FROM v")]
    assert not any(t.startswith(bob) for t in tokens), tokens


def test_recall_of_bob_survives_alices_forged_lines(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "w.db") as store:
        store.add_turn("mira", "bob", "bob", "My dog is called Biscuit.")
        bob = scope_prefix("bob")
        forged = " ".join(f"x\u19b0{bob}{word}" for word in ("dog", "called", "biscuit"))
        store.add_turns(
            [
                {"character": "mira", "player": "alice", "speaker": "alice", "text": forged}
                for _ in range(310)
            ]
        )
        found = store.recall("mira", "bob", "what is my dog called?", k=3)
        assert [r.memory.text for r in found] == ["My dog is called Biscuit."]


def test_recall_limit_applies_to_what_the_character_may_recall(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "w.db") as store:
        store.add_turn("mira", "bob", "bob", "My dog is called Biscuit.")
        store.add_turns(
            [
                {
                    "character": "chen",
                    "player": "bob",
                    "speaker": "bob",
                    "text": f"My dog called Rex {n}, dog dog.",
                }
                for n in range(400)
            ]
        )
        found = store.recall("mira", "bob", "dog called", k=3)
        assert [r.memory.text for r in found] == ["My dog is called Biscuit."]


def test_words_in_scripts_newer_than_the_tokenizer_are_still_recalled(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "w.db") as store:
        store.add_turn("mira", "bob", "bob", "my friend ꦧꦸꦢꦶ lives in a\u19b0b town")
        store.add_turn("mira", "bob", "bob", "the weather is fine")
        found = store.recall("mira", "bob", "ꦧꦸꦢꦶ", k=1)
        assert found and "ꦧꦸꦢꦶ" in found[0].memory.text
