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

Large views (at least :attr:`ConversationView.approximate_from` embedded memories, 20,000 by
default) are scored approximately: a :class:`CoarseIndex` (k-means centroids over the view's
embeddings, each memory filed under its nearest centroid) picks the clusters nearest the query,
and only their memories, the lexical matches, a fixed strided sample of the view and, at the
end, the neighbours of the best of these are scored. See :func:`relevance_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np

from engine.memory.scoring import RecallWeights

__all__ = ["APPROXIMATE_FROM", "CoarseIndex", "ConversationView", "relevance", "relevance_at"]

#: Embedded memories from which a view is scored through its coarse index (see relevance_at).
APPROXIMATE_FROM = 20_000
#: Share of the view's embedded memories whose similarity the approximate path computes
#: (the members of the clusters nearest the query, best cluster first, until this is reached).
PROBE_SHARE = 1 / 16
#: The approximate path keeps this many times ``candidates`` of its best memories (by fused
#: score) and scores their neighbours too, for the neighbour smoothing.
SEED_FACTOR = 2
#: About this many embedded memories (every ``max(16, embedded // SAMPLE_ROWS)``-th when the index
#: is built) are always scored: their least similarity stands for the view's least.
SAMPLE_ROWS = 256


class ConversationView:
    """The memories one character may recall about one player, in id order.

    Arrays grow by doubling, so appending a turn does not copy the embedding matrix.
    """

    def __init__(self, dim: int, *, approximate_from: int = APPROXIMATE_FROM) -> None:
        self.dim = dim
        #: Embedded memories from which recall scores through the coarse index (0: always).
        self.approximate_from = approximate_from
        self._coarse: CoarseIndex | None = None
        self._embedded = 0
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
        return self._embedded == self._n

    @property
    def embedded(self) -> int:
        """How many memories of the view have an embedding."""
        return self._embedded

    def coarse_index(self) -> CoarseIndex | None:
        """The view's coarse index when the view is large enough to use it, else None.

        Built on first use, and built again (re-clustered) once the embedded memories have
        doubled since it was built; in between, new embeddings are filed under their nearest
        centroid as they arrive (:meth:`set_vectors`).
        """
        if self._embedded == 0 or self._embedded < self.approximate_from:
            return None
        if self._coarse is None or self._embedded >= 2 * self._coarse.built_for:
            positions = np.flatnonzero(self.has_vector)
            self._coarse = CoarseIndex.build(positions, self.vectors)
        return self._coarse

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
        at, rows = pos[hit], vectors[hit]
        # A memory listed twice in one batch keeps its last vector.
        at, last = np.unique(at[::-1], return_index=True)
        rows = rows[::-1][last]
        again = self._has[at]
        self._vectors[at] = rows
        self._has[at] = True
        self._embedded += int(len(at) - again.sum())
        if self._coarse is not None:
            if again.any():
                # A memory embedded anew would be filed twice: cluster afresh on next use.
                self._coarse = None
            else:
                self._coarse.add(at, rows.astype(np.float32, copy=False))
        return np.asarray(hit, bool)


class CoarseIndex:
    """An inverted-file index over a view's embeddings, for approximate similarity search.

    Spherical k-means gives ``round(sqrt(n))`` centroids (at most 1024); each memory is filed
    under its nearest centroid, and each cluster keeps its members' vectors side by side, so a
    search reads contiguous blocks instead of gathering scattered rows. Positions are the
    view's (stable: a view only grows).
    """

    def __init__(self, centroids: np.ndarray, built_for: int) -> None:
        self.centroids = np.ascontiguousarray(centroids, np.float32)
        #: Embedded memories the centroids were computed from.
        self.built_for = built_for
        k, dim = self.centroids.shape
        self._members = [np.zeros(0, np.int64) for _ in range(k)]
        self._blocks = [np.zeros((0, dim), np.float32) for _ in range(k)]
        self.sizes = np.zeros(k, np.int64)
        self.sample_positions = np.zeros(0, np.int64)
        self.sample_vectors = np.zeros((0, dim), np.float32)

    def __len__(self) -> int:
        return int(self.sizes.sum())

    @classmethod
    def build(
        cls,
        positions: np.ndarray,
        vectors: np.ndarray,
        *,
        iterations: int = 8,
        sample: int = 32,
        seed: int = 0,
    ) -> CoarseIndex:
        """Cluster the rows ``vectors[positions]`` and file every one of them.

        Centroids are fitted on at most ``sample`` rows per centroid (drawn with ``seed``, so
        the same rows give the same index), in ``iterations`` rounds of spherical k-means.
        """
        n = len(positions)
        k = max(1, min(1024, round(float(np.sqrt(n)))))
        rng = np.random.default_rng(seed)
        fit = vectors[np.sort(rng.choice(positions, min(n, sample * k), replace=False))]
        centroids = fit[rng.choice(len(fit), k, replace=False)].copy()
        for _ in range(iterations):
            nearest = np.argmax(fit @ centroids.T, axis=1)
            order = np.argsort(nearest, kind="stable")
            clusters, starts = np.unique(nearest[order], return_index=True)
            sums = np.add.reduceat(fit[order], starts, axis=0)
            norms = np.linalg.norm(sums, axis=1)
            filled = norms > 0  # an empty cluster keeps its centroid
            centroids[clusters[filled]] = sums[filled] / norms[filled, None]
        index = cls(centroids, built_for=n)
        # A fixed strided sample, its vectors side by side: its least similarity to a query
        # stands for the view's least.
        index.sample_positions = positions[:: max(16, n // SAMPLE_ROWS)].copy()
        index.sample_vectors = np.ascontiguousarray(vectors[index.sample_positions], np.float32)
        nearest = np.concatenate(
            [
                np.argmax(vectors[positions[start : start + 8192]] @ centroids.T, axis=1)
                for start in range(0, n, 8192)
            ]
        )
        index._file(positions, nearest, lambda rows: vectors[positions[rows]])
        return index

    def add(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        """File new rows (positions not in the index yet) under their nearest centroids."""
        if not len(positions):
            return
        nearest = np.argmax(vectors @ self.centroids.T, axis=1)
        self._file(positions, nearest, lambda rows: vectors[rows])

    def _file(
        self,
        positions: np.ndarray,
        nearest: np.ndarray,
        vectors_of: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        """Append ``positions`` to their clusters ``nearest``; ``vectors_of(rows)`` gives the
        vectors of ``positions[rows]``."""
        order = np.argsort(nearest, kind="stable")
        clusters, starts = np.unique(nearest[order], return_index=True)
        for cluster, rows in zip(clusters.tolist(), np.split(order, starts[1:]), strict=True):
            size = int(self.sizes[cluster])
            need = size + len(rows)
            block, members = self._blocks[cluster], self._members[cluster]
            if need > len(members):
                # Grow by doubling, as the view does.
                cap = max(need, 2 * len(members), 16)
                members = np.resize(members, cap)
                grown = np.zeros((cap, block.shape[1]), np.float32)
                grown[:size] = block[:size]
                self._blocks[cluster], self._members[cluster] = grown, members
                block = grown
            members[size:need] = positions[rows]
            block[size:need] = vectors_of(rows)
            self.sizes[cluster] = need

    def search(self, query: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, similarities) of the members of the clusters nearest ``query``.

        Clusters are taken best centroid first until they hold at least ``budget`` members.
        """
        order = np.argsort(-(self.centroids @ query))
        reach = np.cumsum(self.sizes[order])
        take = int(np.searchsorted(reach, min(budget, int(reach[-1])))) + 1
        positions, sims = [], []
        for cluster in order[:take].tolist():
            size = int(self.sizes[cluster])
            if size:
                positions.append(self._members[cluster][:size])
                sims.append(np.einsum("ij,j->i", self._blocks[cluster][:size], query))
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(positions), np.concatenate(sims)


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
    scored (positions are then ``0..len(view) - 1``), unless the view holds at least
    ``view.approximate_from`` embedded memories. Then it is scored approximately, through the
    view's :class:`CoarseIndex`:

    1. similarity is computed for the members of the clusters nearest the query (best centroid
       first, until :data:`PROBE_SHARE` of the embedded memories are covered), for the lexical
       matches and for a fixed strided sample of the view (:data:`SAMPLE_ROWS` memories);
    2. the min-max scaling uses the least and the greatest of these similarities: the greatest
       is the view's (its nearest memories are in the nearest clusters), and the sample's least
       stands for the view's least, so scaled similarities match the exact path's closely;
       memories whose similarity was not computed count as least similar (scaled 0);
    3. the best ``SEED_FACTOR * candidates`` of them by fused score, and their neighbours
       within ``neighbour_window``, are scored and smoothed, as in the exact path; a
       neighbour's neighbour outside that set counts as 0.
    """
    n = len(view)
    lex_pos = np.zeros(0, np.int64)
    lex_val = np.zeros(0, np.float64)
    if lexical and n:
        ids = np.fromiter(lexical.keys(), np.int64, len(lexical))
        values = np.fromiter(lexical.values(), np.float64, len(lexical))
        pos = np.minimum(np.searchsorted(view.ids, ids), n - 1)
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
    if query_vector is not None and n and view.embedded:
        index = view.coarse_index()
        if index is not None:
            return _approximate(view, index, lex_pos, lex_val, query_vector, lw, sw, boost, weights)
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
    positions, window = _around(lex_pos, n, weights)
    # fused and lexical scores at the matches and around them (0 elsewhere).
    span = np.searchsorted(positions, lex_pos)
    fused = np.zeros(len(positions), np.float64)
    lex = np.zeros(len(positions), np.float64)
    fused[span], lex[span] = fused_at, lex_val
    smoothed = _smooth_at(view, positions, fused, window, weights.neighbour_weight)
    return positions, smoothed, lex, np.zeros(len(positions), np.float64)


def _smooth_at(
    view: ConversationView, positions: np.ndarray, fused: np.ndarray, window: int, weight: float
) -> np.ndarray:
    """Neighbour smoothing over the scored ``positions`` (ascending); others count as 0."""
    n = len(view)
    smoothed = fused.copy()
    codes = view.codes
    here = codes[positions]
    last = len(positions) - 1
    for d in range(1, window + 1):
        lifted = np.zeros(len(positions), np.float64)
        for other in (positions - d, positions + d):
            inside = (other >= 0) & (other < n)
            # Integer bounds by minimum/maximum: np.clip looks up the dtype's limits each call.
            bounded = np.minimum(np.maximum(other, 0), n - 1)
            at = np.minimum(np.searchsorted(positions, bounded), last)
            known = inside & (positions[at] == other) & (codes[bounded] == here)
            np.maximum(lifted, np.where(known, fused[at], 0.0), out=lifted)
        smoothed += weight / d * lifted
    return smoothed


def _approximate(
    view: ConversationView,
    index: CoarseIndex,
    lex_pos: np.ndarray,
    lex_val: np.ndarray,
    query_vector: np.ndarray,
    lw: float,
    sw: float,
    boost: list[int],
    weights: RecallWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Nothing here is as long as the view: arrays of its length cost more to allocate and
    # fill than the few thousand positions scored.
    n = len(view)
    query = np.ascontiguousarray(query_vector, np.float32)
    vectors, has, speakers = view.vectors, view.has_vector, view.speakers
    probe_pos, probe_sims = index.search(query, max(1, int(np.ceil(view.embedded * PROBE_SHARE))))
    lex_embedded = lex_pos[has[lex_pos]]
    extra = np.concatenate([index.sample_positions, lex_embedded])
    extra_sims = np.concatenate(
        [
            np.einsum("ij,j->i", index.sample_vectors, query),
            np.einsum("ij,j->i", vectors[lex_embedded], query),
        ]
    )
    low = min(float(probe_sims.min(initial=np.inf)), float(extra_sims.min(initial=np.inf)))
    high = max(float(probe_sims.max(initial=-np.inf)), float(extra_sims.max(initial=-np.inf)))
    lexical = _Lookup(lex_pos, lex_val)

    def fused_at(pos: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """Fused score at ``pos`` given their similarities (NaN: not computed, scaled 0)."""
        scaled = np.zeros(len(pos), np.float64)
        if high > low:
            scaled = np.nan_to_num(np.clip((sims - low) / (high - low), 0.0, 1.0), nan=0.0)
        fused: np.ndarray = lw * lexical.get(pos) + sw * scaled
        if boost:
            fused *= np.where(np.isin(speakers[pos], boost), 1.0 + weights.speaker_boost, 1.0)
        return fused

    # The best `keep` by fused score. A cluster member that is no lexical match scores by its
    # similarity alone (times a speaker boost), so only the best `keep` of them can be among
    # those: the fused score is computed for them, the sample and the lexical matches only.
    keep = SEED_FACTOR * weights.candidates
    if len(probe_pos) > keep:
        key = fused_at(probe_pos, probe_sims.astype(np.float64)) if boost else probe_sims
        best = np.argpartition(-key, keep - 1)[:keep]
        probe_pos, probe_sims = probe_pos[best], probe_sims[best]
    known = _Lookup(
        np.concatenate([probe_pos, extra]), np.concatenate([probe_sims, extra_sims]), missing=np.nan
    )
    pool = np.concatenate([known.positions, lex_pos])
    seeds = pool
    if len(pool) > keep:
        seeds = pool[np.argpartition(-fused_at(pool, known.get(pool)), keep - 1)[:keep]]
    positions, window = _around(seeds, n, weights)
    sims = known.get(positions)
    missing = np.isnan(sims) & has[positions]
    if missing.any():
        sims[missing] = np.einsum("ij,j->i", vectors[positions[missing]], query)
    fused = fused_at(positions, sims)
    smoothed = _smooth_at(view, positions, fused, window, weights.neighbour_weight)
    return positions, smoothed, lexical.get(positions), np.nan_to_num(sims, nan=0.0)


class _Lookup:
    """Values at a few view positions, looked up by position (``missing`` elsewhere)."""

    def __init__(self, positions: np.ndarray, values: np.ndarray, missing: float = 0.0) -> None:
        positions, first = np.unique(positions, return_index=True)
        self.positions = positions
        self.values = np.asarray(values, np.float64)[first]
        self.missing = missing

    def get(self, at: np.ndarray) -> np.ndarray:
        if not len(self.positions):
            return np.full(len(at), self.missing, np.float64)
        i = np.minimum(np.searchsorted(self.positions, at), len(self.positions) - 1)
        return np.where(self.positions[i] == at, self.values[i], self.missing)


def _around(seeds: np.ndarray, n: int, weights: RecallWeights) -> tuple[np.ndarray, int]:
    """The positions of ``seeds`` and of their neighbours within the smoothing window (sorted,
    distinct, inside ``0..n - 1``), and that window."""
    window = min(weights.neighbour_window, n - 1) if weights.neighbour_weight else 0
    offsets = np.arange(-window, window + 1)
    return _unique(np.minimum(np.maximum(seeds[:, None] + offsets[None, :], 0), n - 1)), window


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without its hashing path, ~10x slower here)."""
    ordered = np.sort(values, axis=None)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
