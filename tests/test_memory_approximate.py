"""Approximate recall in large conversations: the coarse index, its answers against the exact
scan, the exact scan below the threshold, and who may recall what."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_memory import (
    CHARACTERS,
    PLAYERS,
    QUERIES,
    SCENES,
    WORDS,
    HashEmbedder,
    check_recall_visibility,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.memory import MemoryStore, RecallWeights
from engine.memory.ranking import CoarseIndex, ConversationView, relevance, relevance_at

DIM = 32


def _clustered(n: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors around ``centres`` random directions, and the directions."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, DIM)).astype(np.float32)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    rows = means[rng.integers(0, centres, n)] + 0.15 * rng.standard_normal((n, DIM))
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return rows, means


def _view(vectors: np.ndarray, approximate_from: int, *, session: int = 25) -> ConversationView:
    view = ConversationView(dim=DIM, approximate_from=approximate_from)
    n = len(vectors)
    view.extend([(i + 1, i // session, "a" if i % 2 else "b") for i in range(n)])
    view.set_vectors(np.arange(1, n + 1), vectors)
    return view


def _top(view: ConversationView, query: np.ndarray, lexical: dict[int, float], k: int) -> list[int]:
    smoothed, _, _ = relevance(
        view, lexical=lexical, query_vector=query, named_speakers=(), weights=RecallWeights()
    )
    order = np.argsort(-smoothed, kind="stable")[:k]
    return [int(view.ids[i]) for i in order if smoothed[i] > 0]


def test_coarse_index_files_every_embedded_memory_once() -> None:
    vectors, _ = _clustered(3000, 20, seed=1)
    index = CoarseIndex.build(np.arange(3000), vectors)
    assert len(index.centroids) == round(np.sqrt(3000))
    positions, sims = index.search(vectors[0], budget=10**9)
    assert sorted(positions.tolist()) == list(range(3000))
    np.testing.assert_allclose(sims, vectors[positions] @ vectors[0], rtol=1e-5, atol=1e-6)


def test_search_reads_the_nearest_clusters_first_until_the_budget() -> None:
    vectors, means = _clustered(4000, 16, seed=2)
    index = CoarseIndex.build(np.arange(4000), vectors)
    positions, _ = index.search(means[3], budget=500)
    assert 500 <= len(positions) < 1000
    # The rows nearest the query are among those read.
    nearest = np.argsort(-(vectors @ means[3]))[:20]
    assert set(nearest.tolist()) <= set(positions.tolist())


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_approximate_recall_returns_the_exact_answers_best_memories(seed: int) -> None:
    vectors, means = _clustered(6000, 40, seed=seed)
    exact, approximate = _view(vectors, 10**9), _view(vectors, 0)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        query = means[rng.integers(0, 40)] + 0.1 * rng.standard_normal(DIM)
        query = (query / np.linalg.norm(query)).astype(np.float32)
        lexical = {int(i): float(rng.random()) for i in rng.integers(1, 6001, 30)}
        assert approximate.coarse_index() is not None and exact.coarse_index() is None
        best = _top(exact, query, lexical, 8)
        assert set(best[:5]) <= set(_top(approximate, query, lexical, 8))


def test_approximate_similarity_scaling_matches_the_exact_scan() -> None:
    vectors, means = _clustered(6000, 40, seed=6)
    exact, approximate = _view(vectors, 10**9), _view(vectors, 0)
    kwargs = {"lexical": {}, "query_vector": means[7], "named_speakers": ()}
    weights = RecallWeights(neighbour_weight=0.0)
    e_pos, e_smoothed, _, e_sims = relevance_at(exact, weights=weights, **kwargs)
    a_pos, a_smoothed, _, a_sims = relevance_at(approximate, weights=weights, **kwargs)
    assert len(a_pos) < len(e_pos) == 6000
    # Raw similarities are exact where computed; scaled ones within a few hundredths.
    np.testing.assert_allclose(a_sims, e_sims[a_pos], rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(a_smoothed - e_smoothed[a_pos])) < 0.05


def test_small_conversations_keep_the_exact_scan() -> None:
    vectors, means = _clustered(500, 10, seed=7)
    view = _view(vectors, approximate_from=501)
    assert view.coarse_index() is None
    positions, _, _, sims = relevance_at(
        view, lexical={}, query_vector=means[0], named_speakers=(), weights=RecallWeights()
    )
    assert positions.tolist() == list(range(500))
    np.testing.assert_allclose(sims, vectors @ means[0], rtol=1e-5, atol=1e-6)


def test_new_embeddings_are_filed_as_they_arrive_and_doubling_clusters_afresh() -> None:
    vectors, _ = _clustered(2000, 10, seed=8)
    view = _view(vectors[:600], approximate_from=500)
    index = view.coarse_index()
    assert index is not None and len(index) == 600 and index.built_for == 600
    view.extend([(i + 1, 0, "a") for i in range(600, 1100)])
    view.set_vectors(np.arange(601, 1101), vectors[600:1100])
    assert view.coarse_index() is index and len(index) == 1100
    view.extend([(i + 1, 0, "a") for i in range(1100, 1300)])
    view.set_vectors(np.arange(1101, 1301), vectors[1100:1300])
    rebuilt = view.coarse_index()
    assert rebuilt is not index and rebuilt is not None and rebuilt.built_for == 1300


def test_memories_not_embedded_yet_are_left_out_of_the_index() -> None:
    vectors, _ = _clustered(400, 5, seed=9)
    view = ConversationView(dim=DIM, approximate_from=0)
    view.extend([(i + 1, 0, "a") for i in range(400)])
    view.set_vectors(np.arange(1, 201), vectors[:200])
    index = view.coarse_index()
    assert index is not None and len(index) == 200 and view.embedded == 200
    positions, _, _, sims = relevance_at(
        view,
        lexical={350: 1.0},
        query_vector=vectors[0],
        named_speakers=(),
        weights=RecallWeights(),
    )
    at = positions.tolist().index(349)
    assert sims[at] == 0.0  # a lexical match without a vector still comes back, similarity 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scene_list=SCENES,
    who=st.sampled_from(CHARACTERS),
    player=st.sampled_from(PLAYERS),
    query=QUERIES,
)
def test_approximate_recall_never_crosses_players_or_unwitnessed_scenes(
    scene_list, who, player, query
) -> None:
    with MemoryStore(":memory:", embedder=HashEmbedder(), approximate_from=0) as store:
        check_recall_visibility(store, scene_list, who, player, query)


def test_store_recall_through_the_index_finds_the_planted_memory() -> None:
    with MemoryStore(":memory:", embedder=HashEmbedder(), approximate_from=0) as store:
        rng = np.random.default_rng(10)
        store.add_turns(
            {
                "character": "mira",
                "player": "p1",
                "speaker": "p1" if i % 2 else "mira",
                "text": " ".join(rng.choice(WORDS[:4], 5)),
                "session": str(i // 40),
            }
            for i in range(400)
        )
        planted = store.add_turn("mira", "p1", "p1", "龙井 茶 festival dragon")
        store.embed_pending()
        hits = store.recall("mira", "p1", "龙井 茶 festival dragon", k=3)
        view = store._views[("mira", "p1")].view
        assert view.coarse_index() is not None
        assert hits[0].memory.turn_ids == [planted.id]
