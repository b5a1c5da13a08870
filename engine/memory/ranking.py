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
from dataclasses import dataclass, field

import numpy as np

from engine.memory.scoring import RecallWeights

__all__ = ["ConversationView", "relevance"]


@dataclass
class ConversationView:
    """The memories one character may recall about one player, in id order."""

    dim: int
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    speakers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    speaker_names: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    has_vector: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    seen: int = 0

    def __post_init__(self) -> None:
        if self.vectors.shape[1] != self.dim:
            self.vectors = np.zeros((len(self.ids), self.dim), np.float32)

    def __len__(self) -> int:
        return int(len(self.ids))

    def extend(self, rows: list[tuple[int, int, str]]) -> None:
        """Append memories newer than any held: (id, conversation-session code, speaker)."""
        if not rows:
            return
        index = {name: i for i, name in enumerate(self.speaker_names)}
        speakers = []
        for _, _, speaker in rows:
            if speaker not in index:
                index[speaker] = len(self.speaker_names)
                self.speaker_names.append(speaker)
            speakers.append(index[speaker])
        n = len(rows)
        self.ids = np.concatenate([self.ids, np.fromiter((r[0] for r in rows), np.int64, n)])
        self.codes = np.concatenate([self.codes, np.fromiter((r[1] for r in rows), np.int64, n)])
        self.speakers = np.concatenate([self.speakers, np.asarray(speakers, np.int32)])
        self.vectors = np.concatenate([self.vectors, np.zeros((n, self.dim), np.float32)])
        self.has_vector = np.concatenate([self.has_vector, np.zeros(n, bool)])
        self.seen = int(self.ids[-1])

    def set_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Store embeddings for memories of the view; returns which ids were in the view."""
        if not len(ids) or not len(self.ids):
            return np.zeros(len(ids), bool)
        pos = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        hit = self.ids[pos] == ids
        self.vectors[pos[hit]] = vectors[hit]
        self.has_vector[pos[hit]] = True
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
        sims[mask] = view.vectors[mask] @ query_vector
        low, high = sims[mask].min(), sims[mask].max()
        if high > low:
            scaled[mask] = (sims[mask] - low) / (high - low)
    lw, sw = weights.lexical, weights.semantic
    if not lexical:
        lw, sw = 0.0, 1.0
    elif query_vector is None:
        lw, sw = 1.0, 0.0
    fused = lw * lex + sw * scaled
    if named_speakers and weights.speaker_boost:
        named = [i for i, name in enumerate(view.speaker_names) if name in named_speakers]
        if named:
            fused = fused * np.where(np.isin(view.speakers, named), 1.0 + weights.speaker_boost, 1.0)
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
