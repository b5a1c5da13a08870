"""Recall: ranking, scoring breakdown, visibility, Chinese and English, hostile queries."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.memory import MemoryStore, RecallWeights


def test_recall_finds_the_matching_memory_first(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "I adopted a grey cat named Pebble")
    store.add_turn("mira", "p1", "p1", "The weather is nice today")
    store.add_turn("mira", "p1", "p1", "I work as a blacksmith in the city")
    [best, *_] = store.recall("mira", "p1", "What is my cat called?")
    assert "Pebble" in best.memory.text


def test_english_is_stemmed(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "I went running by the river")
    assert store.recall("mira", "p1", "do you remember where I run?")


@pytest.mark.parametrize(
    "line, query",
    [
        ("我每天都会开着摩托车穿过沿海公路到码头做表演", "你每天去码头做什么？"),
        ("我最喜欢喝西湖龙井，别的茶都不太习惯", "你最喜欢喝什么茶？"),
        ("我的妹妹在餐厅打工", "你妹妹在哪里工作"),
    ],
)
def test_chinese_text_is_segmented_for_recall(store: MemoryStore, line, query) -> None:
    store.add_turn("chen", "p1", "chen", "今天天气不错")
    store.add_turn("chen", "p1", "chen", line)
    store.add_turn("chen", "p1", "p1", "好的，谢谢")
    [best, *_] = store.recall("chen", "p1", query)
    assert best.memory.text == line


def test_score_breakdown_parts_are_in_unit_range(store: MemoryStore, clock) -> None:
    store.add_memory("mira", "p1", "The player found a silver ring", importance=9)
    clock.advance(3600 * 10)
    [hit] = store.recall("mira", "p1", "silver ring")
    s = hit.score
    for part in (s.relevance, s.recency, s.importance, s.lexical, s.semantic, s.total):
        assert 0.0 <= part <= 1.0
    assert s.relevance == 1.0 and s.lexical == 1.0
    assert s.recency == pytest.approx(0.995**10, rel=1e-4)
    assert s.importance == pytest.approx(8 / 9, rel=1e-4)


def test_recency_breaks_ties_between_equal_matches(store: MemoryStore, clock) -> None:
    old = store.add_memory("mira", "p1", "the player sang a song")
    clock.advance(3600 * 200)
    new = store.add_memory("mira", "p1", "the player sang a song")
    clock.advance(60)
    assert [r.memory.id for r in store.recall("mira", "p1", "song")] == [new.id, old.id]


def test_importance_weight_is_configurable(world_path, clock) -> None:
    weights = RecallWeights(relevance=0.0, recency=0.0, importance=1.0)
    with MemoryStore(world_path, clock=clock, weights=weights) as s:
        low = s.add_memory("mira", "p1", "apple apple apple", importance=1)
        high = s.add_memory("mira", "p1", "apple pie", importance=10)
        assert [r.memory.id for r in s.recall("mira", "p1", "apple")] == [high.id, low.id]


def test_recall_touches_last_accessed(store: MemoryStore, clock) -> None:
    memory = store.add_memory("mira", "p1", "the lantern festival")
    clock.advance(500)
    store.recall("mira", "p1", "lantern")
    assert store.get_memory(memory.id).last_accessed == clock.now
    clock.advance(500)
    store.recall("mira", "p1", "lantern", touch=False)
    assert store.get_memory(memory.id).last_accessed == clock.now - 500


def test_character_only_recalls_what_it_witnessed(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "The treasure is under the old oak")
    store.add_turn(
        "mira", "p1", "p1", "Bram, the dragon sleeps in the cave", present=["mira", "p1", "bram"]
    )
    assert [r.memory.text for r in store.recall("bram", "p1", "treasure dragon oak cave")] == [
        "Bram, the dragon sleeps in the cave"
    ]
    assert len(store.recall("mira", "p1", "treasure dragon oak cave")) == 2


def test_character_recalls_what_it_was_told(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "The treasure is under the old oak")
    assert store.recall("bram", "p1", "treasure") == []
    memory = store.memories("mira", "p1")[0]
    store.share_memory(memory.id, "bram")
    assert [r.memory.id for r in store.recall("bram", "p1", "treasure")] == [memory.id]


def test_memories_of_one_player_never_reach_another(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "My password is swordfish")
    store.add_turn("mira", "p2", "p2", "I like swordfish sushi")
    hits = store.recall("mira", "p2", "swordfish password")
    assert [h.memory.player for h in hits] == ["p2"]


HOSTILE = [
    '"',
    '""',
    "' OR 1=1 --",
    "foo AND bar",
    "NOT fish",
    "NEAR(fish bread, 2)",
    "fish*",
    "^fish",
    "-fish",
    "text:fish",
    "scope:fish",
    "((fish",
    "fish))",
    "); DROP TABLE memories; --",
    "🐟🐟 fish 🍞",
    "{speaker text} : fish",
    "fish" * 2500,
    "x " * 5000,
    "\x00fish\x00",
    "",
    "   ",
    "。，！？",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_query_text_is_read_as_plain_words(store: MemoryStore, query: str) -> None:
    """Operators, quotes and column names in a query never raise and never change its meaning:
    the memory is found exactly when the query names one of its words."""
    store.add_turn("mira", "p1", "p1", "I caught a fish and baked bread")
    hits = store.recall("mira", "p1", query)
    names_a_word = re.search(r"(?<![a-z])(fish|bread)(?![a-z])", query) is not None
    assert [h.memory.text for h in hits] == (
        ["I caught a fish and baked bread"] if names_a_word else []
    )
    assert store.recent_turns("mira", "p1")  # nothing was dropped


@pytest.mark.parametrize(
    "query, plain",
    [
        ('"fish" AND "bread"', "fish bread"),
        ("NOT fish", "not fish"),
        ("fish*", "fish"),
        ("-fish", "fish"),
        ("NEAR(fish bread)", "near fish bread"),
        ("text:fish OR bread", "text fish or bread"),
    ],
)
def test_query_syntax_is_searched_as_plain_words(store: MemoryStore, query, plain) -> None:
    store.add_turn("mira", "p1", "p1", "I caught a fish")
    store.add_turn("mira", "p1", "p1", "I baked some bread")
    store.add_turn("mira", "p1", "p1", "Fishermen sleep late")
    got = [r.memory.id for r in store.recall("mira", "p1", query, touch=False)]
    want = [r.memory.id for r in store.recall("mira", "p1", plain, touch=False)]
    assert got == want


def test_recall_with_k_zero_is_empty(store: MemoryStore) -> None:
    store.add_turn("mira", "p1", "p1", "hello")
    assert store.recall("mira", "p1", "hello", k=0) == []


@pytest.fixture(scope="module")
def shared_store():
    with MemoryStore(":memory:") as s:
        s.add_turn("mira", "p1", "p1", "I caught a fish and baked bread 我们去喝茶")
        s.add_turn("mira", "p2", "p2", "fish bread tea 茶")
        yield s


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=200))
def test_any_query_text_never_raises(shared_store: MemoryStore, query: str) -> None:
    for hit in shared_store.recall("mira", "p1", query, touch=False):
        assert hit.memory.player == "p1"


def test_many_conversations_keep_a_bounded_cache_and_correct_results(store: MemoryStore) -> None:
    from engine.memory.base import MAX_CACHED_VIEWS

    players = [f"p{i}" for i in range(MAX_CACHED_VIEWS + 6)]
    store.add_turns(
        {"character": "mira", "player": p, "speaker": p, "text": f"my lucky number is {i}"}
        for i, p in enumerate(players)
    )
    for i, p in enumerate(players + players[:3]):
        [hit] = store.recall("mira", p, "lucky number", k=1)
        assert hit.memory.text.endswith(f" {i % len(players)}")
    assert len(store._views) <= MAX_CACHED_VIEWS


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([0.25, 0.5, 0.75, 1.0, 0.1 + 0.2]),  # relevance: ties on purpose
            st.sampled_from([1.0, 3.0, 5.0, 10.0, 12.0, -2.0]),  # importance (out of range too)
            st.sampled_from([0.0, 3600.0, 7200.0, 1e9, -5.0]),  # seconds since last access
        ),
        min_size=1,
        max_size=80,
    ),
    k=st.integers(1, 8),
    decay=st.sampled_from([0.995, 0.5, 1.0]),
)
def test_only_contenders_are_scored_with_the_same_result(rows, k, decay) -> None:
    """recall scores (in Python) only the candidates numpy finds near the k best: the same
    memories, order and breakdowns as scoring them all, ties included."""
    import numpy as np

    from engine.memory.recall import _candidate_meta, _contenders
    from engine.memory.scoring import score_candidates

    now = 1e9
    weights = RecallWeights(decay=decay)
    smoothed = np.array([r[0] for r in rows])
    candidates = {100 + i: i for i in range(len(rows))}
    meta = {100 + i: (r[1], now - r[2], "") for i, r in enumerate(rows)}
    best = float(smoothed.max())

    def scores(ids):
        return score_candidates(
            relevance={m: float(smoothed[candidates[m]]) / best for m in ids},
            lexical={},
            semantic={},
            importance={m: meta[m][0] for m in ids},
            last_accessed={m: meta[m][1] for m in ids},
            now=now,
            weights=weights,
            limit=k,
        )

    kept = _contenders(candidates, meta, smoothed, best, now, weights, k)
    assert len(kept) >= min(k, len(rows))
    assert list(scores(kept).items()) == list(scores(list(candidates)).items())

    # Metadata read only for the candidates that can reach the best k: the same result.
    def fetch(_store, ids, _character, _player):
        return {m: meta[m] for m in ids}

    with mock.patch("engine.memory.recall._fetch_meta", fetch):
        some = _candidate_meta(None, "c", "p", candidates, {}, list(candidates), smoothed, best, now, weights, k)  # fmt: skip
    kept = _contenders(candidates, some, smoothed, best, now, weights, k)
    assert list(scores(kept).items()) == list(scores(list(candidates)).items())
