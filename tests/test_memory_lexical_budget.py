"""A full-text search whose words are found in many memories scores only what holds a rarer word.

``MemoryStore(lexical_budget=n)``: when a query's words are found in more than ``n`` of the
player's memories (each word counted), its most frequent words stop finding memories on their
own; they still add to the score of every memory that holds a rarer word, with the same bm25
score the plain search gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.memory import MemoryStore
from engine.memory.recall import lexical_candidates


def _fill(path: Path) -> None:
    """alice: 60 lines about the lantern, 4 about the otter, 2 about both; bob: 200 lanterns."""
    rows = []
    for i in range(60):
        rows.append(f"The lantern by the gate, night {i}")
        if i % 15 == 0:
            rows.append(f"An otter swam past the mill, morning {i}")
        if i % 30 == 0:
            rows.append(f"The otter carried my lantern home, evening {i}")
    rows += ["We talked about the weather", "The bridge needs paint, said the smith"]
    with MemoryStore(path) as store:
        store.add_turns(
            {"character": "mira", "player": "alice", "speaker": "alice", "text": t} for t in rows
        )
        store.add_turns(
            {"character": "mira", "player": "bob", "speaker": "bob", "text": f"Bob's lantern {i}"}
            for i in range(200)
        )


@pytest.fixture
def world(tmp_path: Path) -> Path:
    path = tmp_path / "world.db"
    _fill(path)
    return path


def _lexical(path: Path, query: str, budget: int, player: str = "alice") -> dict[int, float]:
    with MemoryStore(path, lexical_budget=budget) as store:
        return lexical_candidates(store, "mira", player, query, store.weights)


def _texts(path: Path, ids: set[int]) -> set[str]:
    with MemoryStore(path) as store:
        return {m.text for m in store.memories("mira", "alice") if m.id in ids}


def test_frequent_words_only_refine_over_the_budget_with_unchanged_scores(world: Path) -> None:
    full = _lexical(world, "Where is the otter with the lantern?", budget=0)
    cut = _lexical(world, "Where is the otter with the lantern?", budget=20)
    # Only memories indexed with the rarer word (in their line or its neighbours) are found ...
    assert set(cut) == set(_lexical(world, "otter", budget=0))
    assert len(cut) < 20 and len(full) > 60  # the plain search also finds the lantern lines
    # ... each with the score the plain search gives it, so their order is unchanged.
    assert all(cut[m] == pytest.approx(full[m], rel=1e-12) for m in cut)
    best_two = sorted(cut, key=cut.__getitem__)[-2:]
    assert all("lantern" in t for t in _texts(world, set(best_two)))
    assert sorted(full, key=full.__getitem__)[-2:] == best_two


def test_under_the_budget_the_search_is_unchanged(world: Path) -> None:
    query = "Where is the otter with the lantern?"
    assert _lexical(world, query, budget=1000) == _lexical(world, query, budget=0)
    # Another player's 200 lanterns do not count against alice's budget.
    assert _lexical(world, query, budget=100) == _lexical(world, query, budget=0)


def test_a_query_of_frequent_words_keeps_its_rarest(world: Path) -> None:
    otter = set(_lexical(world, "otter", budget=0))
    assert set(_lexical(world, "lantern otter", budget=1)) == otter
    # A word found nowhere cannot stand in for the others.
    assert set(_lexical(world, "lantern otter zeppelin", budget=1)) == otter
    assert len(_lexical(world, "lantern", budget=1)) > 60  # one word is always searched


def test_player_text_stays_words_on_the_split_path(world: Path) -> None:
    for query in (
        'lantern" OR otter NOT (mill',
        "lantern AND otter NEAR(gate) * ^ - : )",
        "otter 灯笼 lantern 水獭",
        '"" ) ( lantern',
    ):
        got = _lexical(world, query, budget=5)
        assert got and all(v > 0 for v in got.values()), query


def test_recall_still_answers_from_a_rare_word_among_frequent_ones(world: Path) -> None:
    with MemoryStore(world, lexical_budget=20) as store:
        got = store.recall("mira", "alice", "Did the otter take the lantern?", k=2)
    assert [r.memory.text.split(",")[0] for r in got] == ["The otter carried my lantern home"] * 2
