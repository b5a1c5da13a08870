"""Ranking over one conversation view: fuse lexical and semantic scores, smooth over neighbours.

Pure numpy, no SQLite. A :class:`ConversationView` holds, for one (character, player), every
memory the character may recall about the player, in id order (so consecutive dialogue lines
sit next to each other), with a code per line that is equal for lines of the same conversation
and session, the speaker of each line, and the embedding of each line once it is computed.

:func:`relevance` scores every memory of the view for one query:

1. ``fused = lexical_weight * bm25 / best bm25 + semantic_weight * scaled similarity``, where the
   similarity is scaled to 0..1 between the least and most similar memory of the view;
2. lines spoken by a participant the query names are multiplied by ``1 + speaker_boost``;
3. each line gains ``neighbour_weight / d * max(fused[i - d], fused[i + d])`` for
   ``d = 1..neighbour_window`` within the same session: the answer to a question often sits
   right next to the line that matches it best.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from engine.memory.scoring import RecallWeights

__all__ = ["ConversationView", "relevance"]


class ConversationView:
    """The memories one character may recall about one player, in id order.

    Arrays grow by doubling, so appending a turn does not copy the embedding matrix.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.speaker_names: list[str] = []
        self.seen = 0
        self._n = 0
        self._ids = np.zeros(0, np.int64)
        self._codes = np.zeros(0, np.int64)
        self._speakers = np.zeros(0, np.int32)
        self._vectors = np.zeros((0, dim), np.float32)
        self._has = np.zeros(0, bool)

    def __len__(self) -> int:
        return self._n

    @property
    def ids(self) -> np.ndarray:
        """Memory ids, ascending."""
        return self._ids[: self._n]

    @property
    def codes(self) -> np.ndarray:
        """Equal for lines of the same conversation and session; unique for other memories."""
        return self._codes[: self._n]

    @property
    def speakers(self) -> np.ndarray:
        """Index into :attr:`speaker_names` of each memory's speaker."""
        return self._speakers[: self._n]

    @property
    def vectors(self) -> np.ndarray:
        """Embeddings (zero rows where not embedded yet)."""
        return self._vectors[: self._n]

    @property
    def has_vector(self) -> np.ndarray:
        """Which memories have an embedding."""
        return self._has[: self._n]

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._ids):
            return
        size = max(need, 2 * len(self._ids), 64)

        def grow(arr: np.ndarray) -> np.ndarray:
            out = np.zeros((size, *arr.shape[1:]), arr.dtype)
            out[: self._n] = arr[: self._n]
            return out

        self._ids, self._codes, self._speakers = (
            grow(self._ids),
            grow(self._codes),
            grow(self._speakers),
        )
        self._vectors, self._has = grow(self._vectors), grow(self._has)

    def extend(self, rows: list[tuple[int, int, str]]) -> None:
        """Append memories newer than any held: (id, conversation-session code, speaker)."""
        if not rows:
            return
        index = {name: i for i, name in enumerate(self.speaker_names)}
        self._reserve(len(rows))
        for offset, (memory_id, code, speaker) in enumerate(rows):
            if speaker not in index:
                index[speaker] = len(self.speaker_names)
                self.speaker_names.append(speaker)
            at = self._n + offset
            self._ids[at], self._codes[at], self._speakers[at] = memory_id, code, index[speaker]
        self._n += len(rows)
        self.seen = int(self._ids[self._n - 1])

    def set_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Store embeddings for memories of the view; returns which ids were in the view."""
        if not len(ids) or not self._n:
            return np.zeros(len(ids), bool)
        pos = np.clip(np.searchsorted(self.ids, ids), 0, self._n - 1)
        hit = self.ids[pos] == ids
        self._vectors[pos[hit]] = vectors[hit]
        self._has[pos[hit]] = True
        return np.asarray(hit, bool)


def relevance(
    view: ConversationView,
    *,
    lexical: Mapping[int, float],
    query_vector: np.ndarray | None,
    named_speakers: Collection[str],
    weights: RecallWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per memory of the view: (relevance before scaling, lexical 0..1, cosine similarity).

    Memories with no lexical match and no embedding score 0 unless a neighbour lifts them.
    """
    n = len(view)
    lex = np.zeros(n, np.float64)
    if lexical:
        ids = np.fromiter(lexical.keys(), np.int64, len(lexical))
        values = np.fromiter(lexical.values(), np.float64, len(lexical))
        pos = np.clip(np.searchsorted(view.ids, ids), 0, max(0, n - 1))
        hit = (view.ids[pos] == ids) if n else np.zeros(0, bool)
        lex[pos[hit]] = values[hit]
        best = lex.max(initial=0.0)
        if best > 0:
            lex /= best
    sims = np.zeros(n, np.float64)
    scaled = np.zeros(n, np.float64)
    if query_vector is not None and view.has_vector.any():
        mask = view.has_vector
        # Rows not embedded yet are zeros; no boolean indexing of the matrix (it would copy it).
        sims = (view.vectors @ query_vector.astype(np.float32)).astype(np.float64)
        sims[~mask] = 0.0
        low, high = sims[mask].min(), sims[mask].max()
        if high > low:
            scaled = np.where(mask, (sims - low) / (high - low), 0.0)
    lw, sw = weights.lexical, weights.semantic
    if not lexical:
        lw, sw = 0.0, 1.0
    elif query_vector is None:
        lw, sw = 1.0, 0.0
    fused = lw * lex + sw * scaled
    if named_speakers and weights.speaker_boost:
        named = [i for i, name in enumerate(view.speaker_names) if name in named_speakers]
        if named:
            fused = fused * np.where(
                np.isin(view.speakers, named), 1.0 + weights.speaker_boost, 1.0
            )
    smoothed = fused.copy()
    for d in range(1, weights.neighbour_window + 1):
        if d >= n:
            break
        same = view.codes[d:] == view.codes[:-d]
        before = np.zeros(n)
        after = np.zeros(n)
        before[d:] = np.where(same, fused[:-d], 0.0)
        after[:-d] = np.where(same, fused[d:], 0.0)
        smoothed += weights.neighbour_weight / d * np.maximum(before, after)
    return smoothed, lex, sims
