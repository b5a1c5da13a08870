"""Pure ranking over a conversation view: fusion, speaker boost, neighbouring lines."""

from __future__ import annotations

import numpy as np
import pytest

from engine.memory import RecallWeights
from engine.memory.ranking import ConversationView, relevance, relevance_at

NO_NEIGHBOURS = RecallWeights(neighbour_weight=0.0, speaker_boost=0.0)


def _view(n: int, *, codes=None, speakers=None, dim: int = 0) -> ConversationView:
    view = ConversationView(dim=dim)
    codes = codes or [1] * n
    speakers = speakers or ["a"] * n
    view.extend([(i + 1, codes[i], speakers[i]) for i in range(n)])
    return view


def test_view_grows_without_losing_rows_or_vectors() -> None:
    view = ConversationView(dim=2)
    for start in range(0, 300, 7):
        view.extend([(i + 1, 1, "a") for i in range(start, min(start + 7, 300))])
        view.set_vectors(np.array([start + 1]), np.array([[1.0, 0.0]], np.float32))
    assert len(view) == 300 and view.seen == 300
    assert list(view.ids[:3]) == [1, 2, 3]
    assert view.has_vector.sum() == len(range(0, 300, 7))
    assert view.set_vectors(np.array([999]), np.zeros((1, 2), np.float32)).tolist() == [False]


def test_lexical_scores_are_scaled_by_the_best() -> None:
    smoothed, lex, _ = relevance(
        _view(3),
        lexical={1: 2.0, 3: 4.0},
        query_vector=None,
        named_speakers=(),
        weights=NO_NEIGHBOURS,
    )
    assert lex.tolist() == [0.5, 0.0, 1.0]
    assert smoothed.tolist() == [0.5, 0.0, 1.0]


def test_ids_outside_the_view_are_ignored() -> None:
    _, lex, _ = relevance(
        _view(2),
        lexical={7: 9.0, 2: 1.0},
        query_vector=None,
        named_speakers=(),
        weights=NO_NEIGHBOURS,
    )
    assert lex.tolist() == [0.0, 1.0]


def test_semantic_similarity_is_scaled_over_embedded_rows_only() -> None:
    view = _view(3, dim=2)
    view.set_vectors(np.array([1, 2]), np.array([[1, 0], [0, 1]], np.float32))
    smoothed, _, sims = relevance(
        view,
        lexical={},
        query_vector=np.array([1.0, 0.0]),
        named_speakers=(),
        weights=NO_NEIGHBOURS,
    )
    assert sims.tolist() == [1.0, 0.0, 0.0]
    assert smoothed.tolist() == [1.0, 0.0, 0.0]


def test_named_speaker_lines_are_boosted() -> None:
    view = _view(2, speakers=["ada", "bo"])
    smoothed, _, _ = relevance(
        view,
        lexical={1: 1.0, 2: 1.0},
        query_vector=None,
        named_speakers={"bo"},
        weights=RecallWeights(neighbour_weight=0.0),
    )
    assert smoothed[1] == pytest.approx(1.2) and smoothed[0] == pytest.approx(1.0)


def test_neighbours_in_the_same_session_lift_a_line() -> None:
    view = _view(5, codes=[1, 1, 1, 2, 2])
    weights = RecallWeights(neighbour_weight=0.3, neighbour_window=2, speaker_boost=0.0)
    smoothed, _, _ = relevance(
        view, lexical={3: 1.0}, query_vector=None, named_speakers=(), weights=weights
    )
    # Lines 2 and 1 (same session) gain 0.3 and 0.15; lines 4 and 5 are another session.
    assert smoothed.tolist() == pytest.approx([0.15, 0.3, 1.0, 0.0, 0.0])


def _dense_reference(view, lexical, weights):
    """The definition, evaluated on every memory: fused scores plus neighbour lift."""
    n = len(view)
    fused = np.zeros(n)
    best = max(lexical.values())
    for i, memory_id in enumerate(view.ids):
        fused[i] = lexical.get(int(memory_id), 0.0) / best
    out = fused.copy()
    for i in range(n):
        for d in range(1, weights.neighbour_window + 1):
            near = [
                fused[j] for j in (i - d, i + d) if 0 <= j < n and view.codes[j] == view.codes[i]
            ]
            out[i] += weights.neighbour_weight / d * max(near, default=0.0)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_lexical_only_scoring_looks_at_matches_and_neighbours_only(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    view = _view(n, codes=sorted(rng.integers(0, 12, n).tolist()))
    lexical = {int(i): float(rng.random()) + 0.1 for i in rng.choice(n, 15, replace=False) + 1}
    weights = RecallWeights(neighbour_weight=0.3, neighbour_window=3, speaker_boost=0.0)
    positions, smoothed, _, _ = relevance_at(
        view, lexical=lexical, query_vector=None, named_speakers=(), weights=weights
    )
    assert len(positions) <= 15 * 7
    dense = np.zeros(n)
    dense[positions] = smoothed
    assert dense == pytest.approx(_dense_reference(view, lexical, weights))
