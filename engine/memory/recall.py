"""Recall: the memories a character may bring up about a player, best first.

Part of :class:`~engine.memory.MemoryStore` (see ``docs/memory.md`` for the ranking): the
full-text candidates, the conversation views with their embeddings, and the re-scoring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import wait
from typing import Any

import numpy as np

from engine.memory.base import (
    MAX_CACHED_VIEWS,
    MEMORY_COLUMNS,
    SEARCH_COLUMNS,
    CachedView,
    StoreBase,
    chunks,
)
from engine.memory.knowledge import player_names
from engine.memory.ranking import ConversationView, relevance_at
from engine.memory.schema import FTS_TABLE
from engine.memory.scoring import RecallWeights, score_candidates
from engine.memory.text import fts_query, query_terms, scope_prefix
from engine.types import MemoryRecord, Recalled

__all__ = ["RecallMixin", "split_frequent"]


def split_frequent(terms: list[str], counts: list[int], budget: int) -> tuple[list[str], list[str]]:
    """``terms`` as (searched, frequent), given in how many memories each is found
    (``counts``): see ``RecallMixin._split_frequent``."""
    if budget <= 0 or len(terms) < 2:
        return terms, []
    total = sum(counts)
    found = sum(1 for c in counts if c)
    frequent: set[int] = set()
    for i in sorted(range(len(terms)), key=lambda i: -counts[i]):
        if total <= budget or len(frequent) >= found - 1:
            break
        frequent.add(i)
        total -= counts[i]
    return (
        [t for i, t in enumerate(terms) if i not in frequent],
        [t for i, t in enumerate(terms) if i in frequent],
    )


class RecallMixin(StoreBase):
    """recall(), embed_pending() and the conversation views: part of MemoryStore."""

    def recall(
        self,
        character: str,
        player: str,
        query: str,
        k: int = 8,
        *,
        now: float | None = None,
        touch: bool = True,
        weights: RecallWeights | None = None,
    ) -> list[Recalled]:
        """The ``k`` memories best matching ``query`` that ``character`` may recall about ``player``.

        Candidates come from the full-text index (bm25) and, with an embedder, from embedding
        similarity; they are fused and re-scored by relevance, recency and importance, best
        first, each with its :class:`ScoreBreakdown`. Any text is a safe query. ``touch``
        refreshes the returned memories' last-accessed time to ``now``: at once for this
        store's own reads, on disk with its next write (or :meth:`flush`, or close).
        """
        w = weights or self.weights
        now = self.clock() if now is None else float(now)
        k = max(0, int(k))
        if k == 0 or not isinstance(query, str):
            return []
        embedder = self.embedder
        pending = None
        if embedder is not None:
            # Bounded, so a recall right after a bulk import stays fast; the rest is embedded
            # by later recalls or by embed_pending() when the game is idle.
            self.embed_pending(self.embed_on_recall, player=player)
            known = self._views.get((character, player))
            if known is not None and known.view.embedded and query.strip():
                # The conversation has vectors: embed the query while the index is searched.
                pending = self._start_query_vector(embedder, query)
        early: dict[int, tuple[float, float, str]] | None = None
        try:
            cached = self._view(character, player)
            lexical = self._lexical_candidates(character, player, query, w, cached.view.ids)
            named = self._named_speakers(query, set(cached.view.speaker_names))
            if lexical and pending is not None and not pending.done():
                # While the query is embedded: the lexical matches' metadata, which most
                # candidates need, so less is left to do once the query vector arrives.
                early = self._fetch_meta(lexical, character, player)
        finally:
            if pending is not None and not pending.done():
                # Never leave the embedder busy behind the caller's back.
                wait([pending])
        view = cached.view
        query_vector = None
        if embedder is not None and view.embedded and query.strip():
            query_vector = self._finish_query_vector(embedder, query, pending)
        if not lexical and query_vector is None:
            return []
        positions, smoothed, lex, sims = relevance_at(
            view, lexical=lexical, query_vector=query_vector, named_speakers=named, weights=w
        )
        scored = np.flatnonzero(smoothed > 0)
        n = max(w.candidates, k)
        if len(scored) > n:
            scored = scored[np.argpartition(-smoothed[scored], n - 1)[:n]]
        if not len(scored):
            return []
        best_value = float(smoothed[scored].max())
        candidates = {int(view.ids[positions[i]]): int(i) for i in scored}
        if early is None:
            meta = self._fetch_meta(candidates, character, player)
        else:
            meta = {m: early[m] for m in candidates if m in early}
            meta.update(
                self._fetch_meta([m for m in candidates if m not in lexical], character, player)
            )
        # A candidate deleted in between (by another connection) simply drops out.
        scores = score_candidates(
            relevance={
                m: float(smoothed[i]) / best_value for m, i in candidates.items() if m in meta
            },
            lexical={m: float(lex[i]) for m, i in candidates.items() if m in meta},
            semantic={m: float(sims[i]) for m, i in candidates.items() if m in meta},
            importance={m: v[0] for m, v in meta.items()},
            last_accessed={m: v[1] for m, v in meta.items()},
            now=now,
            weights=w,
            limit=k,
        )
        best = list(scores)
        rows = self._fetch_memories(best)
        if touch and best:
            self._touch(best, now)
        return [Recalled(memory=rows[i], score=scores[i]) for i in best if i in rows]

    def _lexical_candidates(
        self,
        character: str,
        player: str,
        query: str,
        w: RecallWeights,
        visible: np.ndarray | None = None,
    ) -> dict[int, float]:
        """The best full-text matches among the player's memories, by id. ``visible`` holds
        the ids this character may recall (ascending): when a full page of matches leaves
        fewer than ``w.candidates`` of them, the page grows (x4, up to 64 times the
        candidates), so memories the character never saw cannot crowd out the ones it did."""
        limit = 3 * w.candidates
        while True:
            found = self._lexical_page(player, query, w, limit)
            if visible is None or len(found) < limit or limit >= 64 * w.candidates:
                return found
            ids = np.fromiter(found, dtype=np.int64, count=len(found))
            pos = np.searchsorted(visible, ids)
            seen = 0
            if len(visible):
                seen = int(np.count_nonzero(visible[np.minimum(pos, len(visible) - 1)] == ids))
            if seen >= w.candidates:
                return found
            limit *= 4

    def _lexical_page(
        self, player: str, query: str, w: RecallWeights, limit: int
    ) -> dict[int, float]:
        terms = query_terms(query, self.segmentation)
        if not terms:
            return {}
        prefix = scope_prefix(player)
        rare, frequent = self._split_frequent(terms, prefix)
        score = f"SELECT rowid, bm25({FTS_TABLE}, 0.0, ?, 1.0, ?) AS s FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
        weights = (w.speaker_weight, w.context_weight)
        # The player's prefix limits the search to this player's memories; which of them this
        # character witnessed is decided by the conversation view (engine.memory.ranking), so
        # more rows are taken here to leave enough after that filter.
        if not frequent:
            match = f"{SEARCH_COLUMNS} : ({fts_query(terms, prefix=prefix)})"
            rows = self._read(f"{score} ORDER BY s LIMIT ?", (*weights, match, limit))
        else:
            # The memories with a rarer word, in two disjoint parts: without any frequent word,
            # and with one. Both expressions hold every word, so bm25 weighs each word as the
            # plain OR of all of them would, and a memory's score is the same as there.
            either = fts_query(rare, prefix=prefix)
            common = fts_query(frequent, prefix=prefix)
            rows = self._read(
                f"{score} UNION ALL {score} ORDER BY s LIMIT ?",
                (
                    *weights,
                    f"{SEARCH_COLUMNS} : (({either}) NOT ({common}))",
                    *weights,
                    f"{SEARCH_COLUMNS} : (({either}) AND ({common}))",
                    limit,
                ),
            )
        # bm25() is lower-is-better and negative; flip it so higher is better.
        return {int(r[0]): max(1e-9, -float(r[1])) for r in rows}

    def _split_frequent(self, terms: list[str], prefix: str) -> tuple[list[str], list[str]]:
        """``terms`` as (searched, frequent): the most frequent words move to the second list
        while the others are found in more than ``lexical_budget`` of the player's memories
        (counted per word, so overlaps count twice). At least one word found anywhere stays
        searched: a word found nowhere adds nothing, so it cannot stand in for the others."""
        if self.lexical_budget <= 0 or len(terms) < 2:
            return terms, []
        return split_frequent(terms, self._term_counts(terms, prefix), self.lexical_budget)

    def _term_counts(self, terms: list[str], prefix: str) -> list[int]:
        """In how many of the player's memories (by ``prefix``) each term is found."""
        return [
            int(c)
            for c in self._read(
                "SELECT "
                + ", ".join(
                    f"(SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)" for _ in terms
                ),
                [f"{SEARCH_COLUMNS} : {fts_query([t], prefix=prefix)}" for t in terms],
            )[0]
        ]

    def _fetch_meta(
        self, ids: Iterable[int], character: str, player: str
    ) -> dict[int, tuple[float, float, str]]:
        """(importance, last_accessed, speaker) of each id that exists and ``character`` may
        recall about ``player`` (checked again here, whatever a cache holds)."""
        out: dict[int, tuple[float, float, str]] = {}
        for chunk in chunks(sorted(ids), 500):
            among, params = self._among(chunk)
            for r in self._read(
                "SELECT m.id, m.importance, m.last_accessed, m.speaker FROM memories m"
                " JOIN memory_witnesses w ON w.memory_id = m.id AND w.witness = ? AND w.player = ?"
                f" WHERE m.player = ? AND m.id {among}",
                (character, player, player, *params),
            ):
                out[int(r[0])] = (float(r[1]), float(r[2]), str(r[3] or ""))
        touches = self._touches
        if touches:  # recalled since the last write: their newer times are not on disk yet
            for memory_id, (importance, accessed, speaker) in out.items():
                when = touches.get(memory_id)
                if when is not None and when > accessed:
                    out[memory_id] = (importance, when, speaker)
        return out

    def _named_speakers(self, query: str, speakers: set[str]) -> set[str]:
        """The speakers the query names, by id or by the name a player goes by."""
        if not speakers:
            return set()
        lowered = query.casefold()
        words = set(re.findall(r"[^\W_]+", lowered))
        named = set()
        known = player_names(self, sorted(speakers))
        for speaker in speakers:
            names = {speaker}
            name = known.get(speaker)
            if name:
                names.add(name)
            for n in names:
                n = n.casefold().strip()
                # Latin names match whole words; CJK names (no spaces) match as substrings.
                if n and (
                    n in words or ((" " in n or not n.isascii()) and len(n) >= 2 and n in lowered)
                ):
                    named.add(speaker)
        return named

    def _fetch_memories(self, ids: Iterable[int]) -> dict[int, MemoryRecord]:
        out: dict[int, MemoryRecord] = {}
        for chunk in chunks(sorted(ids), 500):
            among, params = self._among(chunk)
            for r in self._read(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id {among}", params):
                out[int(r[0])] = self._memory(r)
        return out

    def embed_pending(self, limit: int | None = None, *, player: str | None = None) -> int:
        """Embed memories waiting for a vector (oldest first); returns how many were embedded.

        Called by recall for the player it searches; a game can call it when idle.
        """
        if self.embedder is None:
            return 0
        done = 0
        batch = 256
        model = self.embedder.name
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            if player is None:
                rows = self._read(
                    "SELECT memory_id, player, text FROM embed_queue ORDER BY memory_id LIMIT ?",
                    (size,),
                )
            else:
                rows = self._read(
                    "SELECT memory_id, player, text FROM embed_queue WHERE player = ?"
                    " ORDER BY memory_id LIMIT ?",
                    (player, size),
                )
            if not rows:
                break
            vectors = self.embedder.embed([r[2] for r in rows], kind="passage")

            def write(conn: Any, rows: Any = rows, vectors: Any = vectors) -> None:
                keep = []
                for r, vec in zip(rows, vectors, strict=True):
                    # Skip a memory forgotten while it was being embedded.
                    if conn.execute(
                        "DELETE FROM embed_queue WHERE memory_id = ?", (r[0],)
                    ).rowcount:
                        keep.append((int(r[0]), model, str(r[1]), vec))
                if keep:
                    self._put_vectors(conn, keep)

            self._write(write)
            done += len(rows)
        return done

    def _session_code(self, character: str | None, session: str | None, memory_id: int) -> int:
        if character is None:  # not a dialogue line: a neighbour of nothing
            return -memory_id
        key = (character, session)
        if key not in self._session_codes:
            self._session_codes[key] = len(self._session_codes) + 1
        return self._session_codes[key]

    def _view(self, character: str, player: str) -> CachedView:
        """The cached view of what ``character`` may recall about ``player``, brought up to date."""
        # Deletions and new witnesses (by any connection) bump the generation: start afresh.
        current = self._stored_generation()
        if current != self._generation:
            self._views.clear()
            self._generation = current
        key = (character, player)
        cached = self._views.get(key)
        if cached is None:
            dim = self.embedder.dim if self.embedder is not None else 0
            cached = self._views[key] = CachedView(
                ConversationView(dim=dim, approximate_from=self.approximate_from)
            )
            while len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)
        self._views.move_to_end(key)
        view = cached.view
        rows = self._read(
            "SELECT w.memory_id, t.character, t.session, m.speaker FROM memory_witnesses w"
            " JOIN memories m ON m.id = w.memory_id LEFT JOIN turns t ON t.memory_id = w.memory_id"
            " WHERE w.player = ? AND w.witness = ? AND w.memory_id > ? ORDER BY w.memory_id",
            (player, character, view.seen),
        )
        view.extend(
            [(int(r[0]), self._session_code(r[1], r[2], int(r[0])), str(r[3] or "")) for r in rows]
        )
        if self.embedder is not None:
            # New vectors since the last look, by insertion order (rowid), whoever wrote them.
            vec_rows = self._vectors_since(cached.vector_rowid, player, self.embedder.name)
            if vec_rows:
                ids = np.fromiter((r[1] for r in vec_rows), np.int64, len(vec_rows))
                vectors = np.stack([r[2] for r in vec_rows])
                hit = view.set_vectors(ids, vectors.astype(np.float32))
                # A vector of a memory written after the view was read: look at it again next time.
                late = [
                    r[0] for r, h in zip(vec_rows, hit, strict=True) if not h and r[1] > view.seen
                ]
                cached.vector_rowid = int(min(late) - 1 if late else vec_rows[-1][0])
            # Cluster a large view now (or file its new vectors), while a query is embedded.
            view.coarse_index()
        return cached
