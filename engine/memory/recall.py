"""Recall: the memories a character may bring up about a player, best first.

Functions of a store (:class:`~engine.memory.MemoryStore` has ``recall`` and
``embed_pending`` as methods; see ``docs/memory.md`` for the ranking): the full-text
candidates, the conversation views with their embeddings, and the re-scoring. The full-text
search itself is the store's ``_lexical_page``, which each backend implements.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from engine.memory.base import (
    MAX_CACHED_QUERIES,
    MAX_CACHED_VIEWS,
    MEMORY_COLUMNS,
    CachedView,
    StoreBase,
    chunks,
)
from engine.memory.embeddings import Embedder
from engine.memory.knowledge import player_names
from engine.memory.ranking import ConversationView, relevance_at
from engine.memory.scoring import RecallWeights, score_candidates
from engine.types import MemoryRecord, Recalled

__all__ = ["embed_pending", "lexical_candidates", "recall"]

#: How long recall waits (seconds) for the worker to start embedding its query.
_START_WAIT = 0.01


def recall(
    store: StoreBase,
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
    w = weights or store.weights
    now = store.clock() if now is None else float(now)
    k = max(0, int(k))
    if k == 0 or not isinstance(query, str):
        return []
    embedder = store.embedder
    pending = None
    if embedder is not None:
        # Bounded, so a recall right after a bulk import stays fast; the rest is embedded
        # by later recalls or by embed_pending() when the game is idle.
        embed_pending(store, store.embed_on_recall, player=player)
        known = store._views.get((character, player))
        if known is not None and known.view.embedded and query.strip():
            # The conversation has vectors: embed the query while the index is searched.
            pending = _start_query_vector(store, embedder, query)
    early: dict[int, tuple[float, float, str]] | None = None
    try:
        cached = _view(store, character, player)
        lexical = lexical_candidates(store, character, player, query, w, cached.view.ids)
        named = _named_speakers(store, query, set(cached.view.speaker_names))
        if lexical and pending is not None and not pending.done():
            # While the query is embedded: the lexical matches' metadata, which most
            # candidates need, so less is left to do once the query vector arrives.
            early = _fetch_meta(store, lexical, character, player)
    finally:
        if pending is not None and not pending.done():
            # Never leave the embedder busy behind the caller's back.
            wait([pending])
    view = cached.view
    query_vector = None
    if embedder is not None and view.embedded and query.strip():
        query_vector = _finish_query_vector(store, embedder, query, pending)
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
    candidates = dict(zip(view.ids[positions[scored]].tolist(), scored.tolist(), strict=True))
    if early is None:
        read: dict[int, tuple[float, float, str]] = {}
        unread = list(candidates)
    else:  # the lexical matches' were read while the query was embedded
        read = {m: early[m] for m in candidates if m in early}
        unread = [m for m in candidates if m not in lexical]
    meta = _candidate_meta(
        store, character, player, candidates, read, unread, smoothed, best_value, now, w, k
    )
    # A candidate deleted in between (by another connection) simply drops out.
    rescored = _contenders(candidates, meta, smoothed, best_value, now, w, k)
    scores = score_candidates(
        relevance={m: float(smoothed[candidates[m]]) / best_value for m in rescored},
        lexical={m: float(lex[candidates[m]]) for m in rescored},
        semantic={m: float(sims[candidates[m]]) for m in rescored},
        importance={m: meta[m][0] for m in rescored},
        last_accessed={m: meta[m][1] for m in rescored},
        now=now,
        weights=w,
        limit=k,
    )
    best = list(scores)
    rows = _fetch_memories(store, best)
    if touch and best:
        store._touch(best, now)
    return [Recalled(memory=rows[i], score=scores[i]) for i in best if i in rows]


#: How far below the k-th best total (as numpy computes it) a candidate may be and still be
#: scored exactly: far more than numpy's and Python's arithmetic can differ (a few 1e-16).
_CONTENDER_MARGIN = 1e-9


def _totals(
    ids: list[int],
    candidates: dict[int, int],
    meta: dict[int, tuple[float, float, str]],
    smoothed: np.ndarray,
    best_value: float,
    now: float,
    w: RecallWeights,
) -> np.ndarray:
    """The totals :func:`score_candidates` gives ``ids``, computed at once with numpy (to the
    last bit or so; NaN where an importance or a time is NaN)."""
    count = len(ids)
    at = np.fromiter((candidates[m] for m in ids), np.int64, count)
    importance = np.fromiter((meta[m][0] for m in ids), np.float64, count)
    accessed = np.fromiter((meta[m][1] for m in ids), np.float64, count)
    recency = w.decay ** np.maximum(0.0, (now - accessed) / 3600.0)
    total: np.ndarray = (
        w.relevance * (smoothed[at] / best_value)
        + w.recency * recency
        + w.importance * np.clip((importance - 1.0) / 9.0, 0.0, 1.0)
    ) / ((w.relevance + w.recency + w.importance) or 1.0)
    return total


def _kth_total(total: np.ndarray, k: int) -> float | None:
    """The ``k``-th best of ``total`` (None when there are fewer or one is NaN)."""
    if len(total) < k or np.isnan(total).any():
        return None
    return float(np.partition(total, len(total) - k)[len(total) - k])


def _contenders(
    candidates: dict[int, int],
    meta: dict[int, tuple[float, float, str]],
    smoothed: np.ndarray,
    best_value: float,
    now: float,
    w: RecallWeights,
    k: int,
) -> list[int]:
    """The candidates (ids, with their metadata) that can be among the best ``k``.

    The totals of :func:`score_candidates` are computed at once with numpy; those more than
    :data:`_CONTENDER_MARGIN` below the ``k``-th best have at least ``k`` candidates above them
    whichever way the last bit rounds, so they are left out, and ``score_candidates`` scores
    the few left (in Python, one candidate at a time) with the same result as all of them.
    """
    ids = [m for m in candidates if m in meta]
    if len(ids) <= k:
        return ids
    total = _totals(ids, candidates, meta, smoothed, best_value, now, w)
    kth = _kth_total(total, k)
    if kth is None:  # not comparable: score them all
        return ids
    keep = total >= kth - _CONTENDER_MARGIN
    return [m for m, kept in zip(ids, keep.tolist(), strict=True) if kept]


def _candidate_meta(
    store: StoreBase,
    character: str,
    player: str,
    candidates: dict[int, int],
    known: dict[int, tuple[float, float, str]],
    unread: list[int],
    smoothed: np.ndarray,
    best_value: float,
    now: float,
    w: RecallWeights,
    k: int,
) -> dict[int, tuple[float, float, str]]:
    """``known`` and the metadata of the ``unread`` candidates that can be among the best ``k``.

    The most relevant are read first; the ``k``-th best total among what is then known is a
    floor for the ``k``-th best of all, and a candidate whose total could not reach it even
    with full recency and importance (relevance alone bounds it) is not read: at least ``k``
    candidates are above it. The rest are read (all of them when the floor is unknown).
    """
    meta = dict(known)
    first = max(3 * k, 16)
    if len(unread) > first:
        at = np.fromiter((candidates[m] for m in unread), np.int64, len(unread))
        relevance = smoothed[at] / best_value
        order = np.argsort(-relevance, kind="stable")
        meta.update(_fetch_meta(store, [unread[i] for i in order[:first]], character, player))
        rest = order[first:]
        ids = [m for m in candidates if m in meta]
        kth = _kth_total(_totals(ids, candidates, meta, smoothed, best_value, now, w), k)
        if kth is not None:
            reach = (w.relevance * relevance[rest] + w.recency + w.importance) / (
                (w.relevance + w.recency + w.importance) or 1.0
            )
            rest = rest[reach >= kth - _CONTENDER_MARGIN]
        unread = [unread[i] for i in rest]
    if unread:
        meta.update(_fetch_meta(store, unread, character, player))
    return meta


def lexical_candidates(
    store: StoreBase,
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
        found = store._lexical_page(player, query, w, limit)
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


def _fetch_meta(
    store: StoreBase, ids: Iterable[int], character: str, player: str
) -> dict[int, tuple[float, float, str]]:
    """(importance, last_accessed, speaker) of each id that exists and ``character`` may
    recall about ``player`` (checked again here, whatever a cache holds)."""
    out: dict[int, tuple[float, float, str]] = {}
    for chunk in chunks(sorted(ids), 500):
        among, params = store._among(chunk)
        for r in store._read(
            "SELECT m.id, m.importance, m.last_accessed, m.speaker FROM memories m"
            " JOIN memory_witnesses w ON w.memory_id = m.id AND w.witness = ? AND w.player = ?"
            f" WHERE m.player = ? AND m.id {among}",
            (character, player, player, *params),
        ):
            out[int(r[0])] = (float(r[1]), float(r[2]), str(r[3] or ""))
    touches = store._touches
    if touches:  # recalled since the last write: their newer times are not on disk yet
        for memory_id, (importance, accessed, speaker) in out.items():
            when = touches.get(memory_id)
            if when is not None and when > accessed:
                out[memory_id] = (importance, when, speaker)
    return out


def _named_speakers(store: StoreBase, query: str, speakers: set[str]) -> set[str]:
    """The speakers the query names, by id or by the name a player goes by."""
    if not speakers:
        return set()
    lowered = query.casefold()
    words = set(re.findall(r"[^\W_]+", lowered))
    named = set()
    known = player_names(store, sorted(speakers))
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


def _fetch_memories(store: StoreBase, ids: Iterable[int]) -> dict[int, MemoryRecord]:
    out: dict[int, MemoryRecord] = {}
    for chunk in chunks(sorted(ids), 500):
        among, params = store._among(chunk)
        for r in store._read(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id {among}", params):
            out[int(r[0])] = store._memory(r)
    return out


def embed_pending(store: StoreBase, limit: int | None = None, *, player: str | None = None) -> int:
    """Embed memories waiting for a vector (oldest first); returns how many were embedded.

    Called by recall for the player it searches; a game can call it when idle.
    """
    if store.embedder is None:
        return 0
    done = 0
    batch = 256
    model = store.embedder.name
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        if player is None:
            rows = store._read(
                "SELECT memory_id, player, text FROM embed_queue ORDER BY memory_id LIMIT ?",
                (size,),
            )
        else:
            rows = store._read(
                "SELECT memory_id, player, text FROM embed_queue WHERE player = ?"
                " ORDER BY memory_id LIMIT ?",
                (player, size),
            )
        if not rows:
            break
        vectors = store.embedder.embed([r[2] for r in rows], kind="passage")

        def write(conn: Any, rows: Any = rows, vectors: Any = vectors) -> None:
            keep = []
            for r, vec in zip(rows, vectors, strict=True):
                # Skip a memory forgotten while it was being embedded.
                if conn.execute("DELETE FROM embed_queue WHERE memory_id = ?", (r[0],)).rowcount:
                    keep.append((int(r[0]), model, str(r[1]), vec))
            if keep:
                store._put_vectors(conn, keep)

        store._write(write)
        done += len(rows)
    return done


def _session_code(
    store: StoreBase, character: str | None, session: str | None, memory_id: int
) -> int:
    if character is None:  # not a dialogue line: a neighbour of nothing
        return -memory_id
    key = (character, session)
    if key not in store._session_codes:
        store._session_codes[key] = len(store._session_codes) + 1
    return store._session_codes[key]


def _view(store: StoreBase, character: str, player: str) -> CachedView:
    """The cached view of what ``character`` may recall about ``player``, brought up to date."""
    # Deletions and new witnesses (by any connection) bump the generation: start afresh.
    current = store._stored_generation()
    if current != store._generation:
        store._views.clear()
        store._generation = current
    key = (character, player)
    cached = store._views.get(key)
    if cached is None:
        dim = store.embedder.dim if store.embedder is not None else 0
        cached = store._views[key] = CachedView(
            ConversationView(dim=dim, approximate_from=store.approximate_from)
        )
        while len(store._views) > MAX_CACHED_VIEWS:
            store._views.popitem(last=False)
    store._views.move_to_end(key)
    view = cached.view
    rows = store._read(
        "SELECT w.memory_id, t.character, t.session, m.speaker FROM memory_witnesses w"
        " JOIN memories m ON m.id = w.memory_id LEFT JOIN turns t ON t.memory_id = w.memory_id"
        " WHERE w.player = ? AND w.witness = ? AND w.memory_id > ? ORDER BY w.memory_id",
        (player, character, view.seen),
    )
    view.extend(
        [(int(r[0]), _session_code(store, r[1], r[2], int(r[0])), str(r[3] or "")) for r in rows]
    )
    if store.embedder is not None:
        # New vectors since the last look, by insertion order (rowid), whoever wrote them.
        vec_rows = store._vectors_since(cached.vector_rowid, player, store.embedder.name)
        if vec_rows:
            ids = np.fromiter((r[1] for r in vec_rows), np.int64, len(vec_rows))
            vectors = np.stack([r[2] for r in vec_rows])
            hit = view.set_vectors(ids, vectors.astype(np.float32))
            # A vector of a memory written after the view was read: look at it again next time.
            late = [r[0] for r, h in zip(vec_rows, hit, strict=True) if not h and r[1] > view.seen]
            cached.vector_rowid = int(min(late) - 1 if late else vec_rows[-1][0])
        # Cluster a large view now (or file its new vectors), while a query is embedded.
        view.coarse_index()
    return cached


def _start_query_vector(
    store: StoreBase, embedder: Embedder, query: str
) -> Future[np.ndarray] | None:
    """Start embedding ``query`` on the worker thread (None when it is cached).

    The embedder runs outside the GIL (a C engine or a network call), so the embedding
    overlaps the full-text search. The caller must collect the result with
    :func:`_finish_query_vector` before calling the embedder again: only one call to the
    embedder is ever in flight, so an embedder need not be thread-safe.
    """
    if (embedder.name, query) in store._query_vectors:
        return None
    if store._embed_worker is None:
        store._embed_worker = ThreadPoolExecutor(1, thread_name_prefix="memory-embed")
    started = threading.Event()

    def embed() -> np.ndarray:
        started.set()
        return embedder.embed([query], kind="query")

    future = store._embed_worker.submit(embed)
    # Hand the interpreter lock to the worker until it is on its way into the embedder:
    # otherwise it can wait for the lock while this thread runs Python (up to the
    # interpreter's 5 ms switch interval), and the embedding, the longest part of a
    # recall, starts that much later.
    started.wait(_START_WAIT)
    return future


def _finish_query_vector(
    store: StoreBase, embedder: Embedder, query: str, pending: Future[np.ndarray] | None
) -> np.ndarray:
    key = (embedder.name, query)
    vector = store._query_vectors.get(key)
    if vector is None:
        rows = pending.result() if pending is not None else None
        if rows is None:
            rows = embedder.embed([query], kind="query")
        vector = np.asarray(rows)[0].astype(np.float64)
        vector.setflags(write=False)
        store._query_vectors[key] = vector
        while len(store._query_vectors) > MAX_CACHED_QUERIES:
            store._query_vectors.popitem(last=False)
    else:
        store._query_vectors.move_to_end(key)
    return vector
