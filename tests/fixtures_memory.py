"""Fixtures for memory tests: a real SQLite world file in a temporary directory, or a real
PostgreSQL database (``store`` runs on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st

from engine.memory import MemoryStore


class FakeClock:
    """A settable clock (seconds) so recency and timestamps are deterministic."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world_path(tmp_path: Path) -> Path:
    return tmp_path / "world.db"


@pytest.fixture
def store(world: str, clock: FakeClock) -> Iterator[MemoryStore]:
    """A store on each backend in turn (SQLite, PostgreSQL): see ``fixtures_postgres``."""
    with MemoryStore(world, clock=clock) as s:
        yield s


class HashEmbedder:
    """A deterministic stand-in for a model (bag of hashed words), so vectors get stored."""

    name = "hash-test"
    dim = 16

    def embed(self, texts: Any, *, kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return out / norms


# Random scenes for the visibility properties: who spoke to whom, who else was there, what.
WORDS = ["apple", "river", "sword", "lantern", "茶", "龙井", "festival", "dragon"]
CHARACTERS = ["mira", "bram", "chen"]
PLAYERS = ["p1", "p2", "p3"]
QUERIES = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
SCENES = st.lists(
    st.tuples(
        st.sampled_from(CHARACTERS),
        st.sampled_from(PLAYERS),
        st.lists(st.sampled_from(CHARACTERS + PLAYERS), max_size=4),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    ),
    min_size=1,
    max_size=25,
)


def check_recall_visibility(
    store: MemoryStore,
    scenes: list[tuple[str, str, list[str], str]],
    who: str,
    player: str,
    query: str,
) -> None:
    """Store ``scenes`` (odd-sized ``present``: a dialogue line, else a memory), then check that
    recall returns only ``player``'s memories that ``who`` witnessed, and every such match."""
    witnessed: dict[int, tuple[str, set[str]]] = {}
    for character, pl, present, text in scenes:
        if len(present) % 2:
            turn = store.add_turn(character, pl, pl, text, present=present)
            memory = next(m for m in store.memories(character, pl) if m.turn_ids == [turn.id])
            witnessed[memory.id] = (pl, {character, pl, *present})
        else:
            memory_id = store.add_memory(character, pl, text, present=present).id
            witnessed[memory_id] = (pl, {character, *present})
    if store.embedder is not None:
        store.embed_pending()
    hits = store.recall(who, player, query, k=50)
    for hit in hits:
        owner, seen = witnessed[hit.memory.id]
        assert owner == player and who in seen
    # Everything this character may know and that matches is found (nothing over-filtered).
    expected = {
        mid
        for mid, (owner, seen) in witnessed.items()
        if owner == player
        and who in seen
        and set(query.split()) & set(store.get_memory(mid).text.split())
    }
    assert expected <= {h.memory.id for h in hits}
