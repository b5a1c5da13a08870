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

__all__ = ["ConversationView", "relevance", "relevance_at"]


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
        self._same: dict[int, np.ndarray] = {}

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

    @property
    def all_embedded(self) -> bool:
        """Whether every memory of the view has an embedding."""
        return bool(self.has_vector.all())

    def same_session(self, d: int) -> np.ndarray:
        """``codes[i] == codes[i + d]`` for ``i < len(view) - d`` (cached until the view grows)."""
        same = self._same.get(d)
        if same is None:
            codes = self.codes
            same = self._same[d] = codes[d:] == codes[:-d]
        return same

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
        self._same.clear()
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
    The dense form of :func:`relevance_at`.
    """
    n = len(view)
    positions, smoothed, lex, sims = relevance_at(
        view,
        lexical=lexical,
        query_vector=query_vector,
        named_speakers=named_speakers,
        weights=weights,
    )
    if len(positions) == n:  # every memory was scored (semantic recall), in view order
        return smoothed, lex, sims
    out = np.zeros((3, n), np.float64)
    out[0, positions], out[1, positions], out[2, positions] = smoothed, lex, sims
    return out[0], out[1], out[2]


def relevance_at(
    view: ConversationView,
    *,
    lexical: Mapping[int, float],
    query_vector: np.ndarray | None,
    named_speakers: Collection[str],
    weights: RecallWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`relevance`, but only where a memory can score above 0.

    Returns ``(positions, smoothed, lexical, similarity)``: positions in the view (ascending)
    and the three scores there. Every other memory of the view scores 0. Without semantic
    scores only the lexical matches and their neighbours are looked at, so the cost follows
    the number of matches, not the size of the conversation; with them, every memory is
    scored (positions are then ``0..len(view) - 1``).
    """
    n = len(view)
    lex_pos = np.zeros(0, np.int64)
    lex_val = np.zeros(0, np.float64)
    if lexical and n:
        ids = np.fromiter(lexical.keys(), np.int64, len(lexical))
        values = np.fromiter(lexical.values(), np.float64, len(lexical))
        pos = np.clip(np.searchsorted(view.ids, ids), 0, n - 1)
        hit = view.ids[pos] == ids
        lex_pos, lex_val = pos[hit], values[hit]
        best = lex_val.max(initial=0.0)
        if best > 0:
            lex_val = lex_val / best
    lw, sw = weights.lexical, weights.semantic
    if not lexical:
        lw, sw = 0.0, 1.0
    elif query_vector is None:
        lw, sw = 1.0, 0.0
    boost: list[int] = []
    if named_speakers and weights.speaker_boost:
        boost = [i for i, name in enumerate(view.speaker_names) if name in named_speakers]
    if query_vector is not None and n and view.has_vector.any():
        return _dense(view, lex_pos, lex_val, query_vector, lw, sw, boost, weights)
    return _sparse(view, lex_pos, lex_val, lw, boost, weights)


def _dense(
    view: ConversationView,
    lex_pos: np.ndarray,
    lex_val: np.ndarray,
    query_vector: np.ndarray,
    lw: float,
    sw: float,
    boost: list[int],
    weights: RecallWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(view)
    lex = np.zeros(n, np.float64)
    lex[lex_pos] = lex_val
    mask = view.has_vector
    # Rows not embedded yet are zeros, so their similarity is 0; no boolean indexing of the
    # matrix (it would copy it). einsum runs on the calling thread: the matrix-vector product
    # is memory-bound, and BLAS's worker threads only add contention on a busy machine (same
    # speed alone, several times slower at the tail when the cores are shared).
    sims = np.einsum("ij,j->i", view.vectors, query_vector.astype(np.float32)).astype(np.float64)
    embedded = sims if view.all_embedded else sims[mask]
    low, high = embedded.min(), embedded.max()
    if high > low:
        scaled = (sims - low) / (high - low)
        if not view.all_embedded:
            scaled[~mask] = 0.0
    else:
        scaled = np.zeros(n, np.float64)
    fused = lw * lex + sw * scaled
    if boost:
        fused = fused * np.where(np.isin(view.speakers, boost), 1.0 + weights.speaker_boost, 1.0)
    smoothed = fused.copy()
    if weights.neighbour_weight:
        lifted = np.empty(n, np.float64)
        for d in range(1, weights.neighbour_window + 1):
            if d >= n:
                break
            same = view.same_session(d)
            # lifted[i] = max(fused[i - d], fused[i + d]), each only within the same session.
            lifted[:d] = 0.0
            np.multiply(fused[:-d], same, out=lifted[d:])
            np.maximum(lifted[:-d], fused[d:] * same, out=lifted[:-d])
            smoothed += weights.neighbour_weight / d * lifted
    return np.arange(n), smoothed, lex, sims


def _sparse(
    view: ConversationView,
    lex_pos: np.ndarray,
    lex_val: np.ndarray,
    lw: float,
    boost: list[int],
    weights: RecallWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(view)
    if not len(lex_pos):
        empty = np.zeros(0, np.float64)
        return np.zeros(0, np.int64), empty, empty, empty
    fused_at = lw * lex_val + 0.0
    if boost:
        fused_at = fused_at * np.where(
            np.isin(view.speakers[lex_pos], boost), 1.0 + weights.speaker_boost, 1.0
        )
    window = min(weights.neighbour_window, n - 1) if weights.neighbour_weight else 0
    offsets = np.arange(-window, window + 1)
    positions = np.unique(np.clip(lex_pos[:, None] + offsets[None, :], 0, n - 1))
    # fused and lexical scores at the matches and around them (0 elsewhere).
    span = np.searchsorted(positions, lex_pos)
    fused = np.zeros(len(positions), np.float64)
    lex = np.zeros(len(positions), np.float64)
    fused[span], lex[span] = fused_at, lex_val
    smoothed = fused.copy()
    codes = view.codes
    here = codes[positions]
    for d in range(1, window + 1):
        lifted = np.zeros(len(positions), np.float64)
        for other in (positions - d, positions + d):
            inside = (other >= 0) & (other < n)
            at = np.searchsorted(positions, np.clip(other, 0, n - 1))
            at = np.minimum(at, len(positions) - 1)
            known = inside & (positions[at] == other) & (codes[np.clip(other, 0, n - 1)] == here)
            np.maximum(lifted, np.where(known, fused[at], 0.0), out=lifted)
        smoothed += weights.neighbour_weight / d * lifted
    return positions, smoothed, lex, np.zeros(len(positions), np.float64)
