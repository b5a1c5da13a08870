"""The world's memory: one SQLite file holding what every character knows about every player.

>>> store = MemoryStore(":memory:")
>>> turn = store.add_turn("mira", "p1", "p1", "My sister keeps bees on the hill.")
>>> [r.memory.text for r in store.recall("mira", "p1", "who keeps bees?")]
['My sister keeps bees on the hill.']
>>> store.recall("bram", "p1", "who keeps bees?")     # bram was not there
[]

Keys and visibility: every turn and memory belongs to one (character, player) conversation;
a memory also records who was present (``memory_witnesses``). ``recall(character, player, ...)``
returns only memories about ``player`` that ``character`` witnessed or was told
(:meth:`MemoryStore.share_memory`).

Writes: every public write is one ``BEGIN IMMEDIATE`` transaction (so a batch is all or
nothing), retried while another connection holds the write lock; reads retry on a busy file
too, so "database is locked" never reaches a caller (it becomes :class:`StoreError` only after
``busy_timeout`` seconds). Every insert, update and delete is logged in ``history`` with its
reason, except the last-accessed time that recall refreshes.

The store is not thread-safe: use one instance per thread (the runtime keeps one on its worker
thread); other threads and processes open their own (the file is in WAL mode).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import wait
from typing import Any

import numpy as np

from engine.errors import NotFoundError, StoreError
from engine.memory.base import (
    _MEMORY_COLUMNS,
    _MEMORY_KINDS,
    _SEARCH_COLUMNS,
    MAX_CACHED_VIEWS,
    StoreBase,
    _bump_generation,
    _CachedView,
    _chunks,
    _dedupe,
    _next_id,
    _set_high_water,
)
from engine.memory.embeddings import to_blob
from engine.memory.knowledge import KnowledgeMixin
from engine.memory.ranking import ConversationView, relevance_at
from engine.memory.rights import RightsMixin
from engine.memory.schema import FTS_TABLE
from engine.memory.scoring import (
    RecallWeights,
    clamp,
    score_candidates,
)
from engine.memory.text import fts_query, index_text, query_terms, scope_prefix, scoped
from engine.memory.types import (
    MemoryKind,
    MemoryRecord,
    Recalled,
    TurnRecord,
)

__all__ = ["MemoryStore"]

logger = logging.getLogger(__name__)


class MemoryStore(RightsMixin, KnowledgeMixin, StoreBase):
    """Per-player memory of every character in one world, in one SQLite file.

    ``path`` is the world file (created if missing; ``":memory:"`` for a throw-away store).
    ``embedder`` turns on semantic recall (memories are embedded lazily, in batches, by
    :meth:`embed_pending` or at the next recall). ``weights`` set how recall ranks. ``clock``
    gives the time for records that do not pass one (game time or wall time, in seconds).
    ``segmentation`` picks how Chinese is split for the index (fixed once a file has data).
    ``busy_timeout`` is how long a busy file is retried before :class:`StoreError`;
    ``embed_on_recall`` bounds how many waiting memories a recall embeds first;
    ``approximate_from`` is the number of embedded memories from which a conversation is
    searched through a coarse index instead of scoring every memory's embedding
    (see :func:`engine.memory.ranking.relevance_at`; 0 always uses the index);
    ``lexical_budget`` bounds what a full-text search scores: when a query's words are found
    in more of the player's memories than this (each word counted), its most frequent words
    only add to the score of memories that hold a rarer one (0 scores every match).
    """

    def _speaker_label(self, conn: sqlite3.Connection, speaker: str) -> str:
        row = conn.execute("SELECT name FROM players WHERE player = ?", (speaker,)).fetchone()
        return f"{speaker} {row[0]}" if row and row[0] and row[0] != speaker else speaker

    def add_turn(
        self,
        character: str,
        player: str,
        speaker: str,
        text: str,
        *,
        time: float | None = None,
        present: Sequence[str] | None = None,
        session: str | None = None,
        importance: float = 5.0,
    ) -> TurnRecord:
        """Store one line of dialogue and index it as an observation memory.

        The memory is witnessed by ``present`` (default: the character and the player); the
        character and the speaker are always counted as present.
        """
        ids = self.add_turns(
            [
                {
                    "character": character,
                    "player": player,
                    "speaker": speaker,
                    "text": text,
                    "time": time,
                    "present": present,
                    "session": session,
                    "importance": importance,
                }
            ]
        )
        when = self.clock() if time is None else float(time)
        row = self._read("SELECT time FROM turns WHERE id = ?", (ids[0],))
        if row:
            when = float(row[0][0])
        return TurnRecord(
            id=ids[0],
            character=character,
            player=player,
            speaker=speaker,
            text=text,
            time=when,
            session=session,
        )

    def add_turns(self, rows: Iterable[dict[str, Any]]) -> list[int]:
        """Store many turns in one transaction; returns their ids in order.

        Each row holds ``character``, ``player``, ``speaker``, ``text`` and optionally
        ``time``, ``present``, ``session`` and ``importance``.
        """
        items = [dict(r) for r in rows]
        if not items:
            return []
        prepared: list[dict[str, Any]] = []
        for n, row in enumerate(items):
            missing = [k for k in ("character", "player", "speaker", "text") if not row.get(k)]
            if missing:
                raise StoreError(f"turn {n}: missing {', '.join(missing)}")
            present = row.get("present")
            who = [row["character"], row["player"]] if present is None else list(present)
            prepared.append(
                {
                    "character": str(row["character"]),
                    "player": str(row["player"]),
                    "speaker": str(row["speaker"]),
                    "text": str(row["text"]),
                    "time": float(row["time"]) if row.get("time") is not None else None,
                    "session": None if row.get("session") is None else str(row["session"]),
                    "present": _dedupe([row["character"], row["speaker"], *map(str, who)]),
                    "importance": clamp(float(row.get("importance", 5.0)), 1.0, 10.0),
                    "segmented": index_text(str(row["text"]), self.segmentation),
                }
            )
        return self._write(lambda conn: self._insert_turns(conn, prepared))

    def _insert_turns(self, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[int]:
        now = self.clock()
        next_turn = _next_id(conn, "turns")
        next_mem = _next_id(conn, "memories")
        # The previous turn of each conversation, to give neighbouring lines as context.
        last: dict[tuple[str, str], dict[str, Any] | None] = {}
        labels: dict[str, str] = {}
        names: dict[str, str] = {}

        def line_of(speaker: str, text: str) -> str:
            # A dialogue line as embedded: "Name: text" (the player's name when known).
            if speaker not in names:
                names[speaker] = self._display_name(conn, speaker)
            return f"{names[speaker]}: {text}"

        turn_rows: list[tuple[Any, ...]] = []
        mem_rows: list[tuple[Any, ...]] = []
        wit_rows: list[tuple[Any, ...]] = []
        fts_rows: list[tuple[Any, ...]] = []
        hist_rows: list[tuple[Any, ...]] = []
        queue_rows: list[tuple[Any, ...]] = []
        fts_index: dict[int, int] = {}  # memory id -> position in fts_rows
        context_updates: list[tuple[int, str, str]] = []
        ids: list[int] = []
        for row in rows:
            pair = (row["character"], row["player"])
            if pair not in last:
                prev = conn.execute(
                    "SELECT t.id, t.text, t.session, t.memory_id, t.speaker FROM turns t"
                    " WHERE t.character = ? AND t.player = ? ORDER BY t.id DESC LIMIT 2",
                    pair,
                ).fetchall()
                last[pair] = None
                if prev:
                    before = prev[1] if len(prev) > 1 and prev[1][2] == prev[0][2] else None
                    last[pair] = {
                        "memory_id": prev[0][3],
                        "segmented": index_text(prev[0][1], self.segmentation),
                        "session": prev[0][2],
                        "before": index_text(before[1], self.segmentation) if before else "",
                        "in_batch": False,
                        "line": line_of(prev[0][4], prev[0][1]),
                    }
            if row["speaker"] not in labels:
                labels[row["speaker"]] = self._speaker_label(conn, row["speaker"])
            line = line_of(row["speaker"], row["text"])
            when = now if row["time"] is None else row["time"]
            turn_id, mem_id = next_turn, next_mem
            next_turn += 1
            next_mem += 1
            ids.append(turn_id)
            turn_rows.append(
                (
                    turn_id,
                    pair[0],
                    pair[1],
                    row["speaker"],
                    row["text"],
                    when,
                    row["session"],
                    mem_id,
                )
            )
            mem_rows.append(
                (
                    mem_id,
                    pair[0],
                    pair[1],
                    "observation",
                    row["text"],
                    row["importance"],
                    when,
                    when,
                    json.dumps([turn_id]),
                    json.dumps(row["present"], ensure_ascii=False),
                    row["speaker"],
                )
            )
            wit_rows.extend((mem_id, w, pair[1]) for w in row["present"])
            prev_info = last[pair]
            context = ""
            dense_text = line
            if prev_info is not None and prev_info["session"] == row["session"]:
                context = prev_info["segmented"]
                dense_text = prev_info["line"] + "\n" + line
                # The previous line now has a next neighbour too.
                prev_context = (prev_info["before"] + " " + row["segmented"]).strip()
                if prev_info["in_batch"]:
                    pos = fts_index[prev_info["memory_id"]]
                    fts_rows[pos] = (*fts_rows[pos][:4], prev_context)
                elif prev_info["memory_id"] is not None:
                    context_updates.append((prev_info["memory_id"], pair[1], prev_context))
            fts_index[mem_id] = len(fts_rows)
            fts_rows.append((mem_id, pair[1], labels[row["speaker"]], row["segmented"], context))
            last[pair] = {
                "memory_id": mem_id,
                "segmented": row["segmented"],
                "session": row["session"],
                "before": context,
                "in_batch": True,
                "line": line,
            }
            hist_rows.append(
                (
                    now,
                    "insert",
                    "turn",
                    str(turn_id),
                    pair[0],
                    pair[1],
                    "dialogue turn",
                    json.dumps({"memory_id": mem_id}),
                )
            )
            if self.embedder is not None:
                queue_rows.append((mem_id, pair[1], dense_text))
        conn.executemany(
            "INSERT INTO turns (id, character, player, speaker, text, time, session, memory_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            turn_rows,
        )
        _set_high_water(conn, "turns", next_turn - 1)
        _set_high_water(conn, "memories", next_mem - 1)
        conn.executemany(
            f"INSERT INTO memories ({_MEMORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            mem_rows,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO memory_witnesses (memory_id, witness, player) VALUES (?, ?, ?)",
            wit_rows,
        )
        # Every indexed word carries its player's prefix (see engine.memory.text.scoped).
        prefixes: dict[str, str] = {}

        def prefix(player: str) -> str:
            if player not in prefixes:
                prefixes[player] = scope_prefix(player)
            return prefixes[player]

        conn.executemany(
            f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context) VALUES (?, '', ?, ?, ?)",
            [
                (mid, scoped(label, prefix(pl)), scoped(txt, prefix(pl)), scoped(ctx, prefix(pl)))
                for mid, pl, label, txt, ctx in fts_rows
            ],
        )
        conn.executemany(
            f"UPDATE {FTS_TABLE} SET context = ? WHERE rowid = ?",
            [(scoped(ctx, prefix(pl)), mid) for mid, pl, ctx in context_updates],
        )
        conn.executemany(
            "INSERT INTO history (time, op, entity, entity_id, character, player, reason, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            hist_rows,
        )
        if queue_rows:
            conn.executemany(
                "INSERT OR REPLACE INTO embed_queue (memory_id, player, text) VALUES (?, ?, ?)",
                queue_rows,
            )
        return ids

    def recent_turns(self, character: str, player: str, limit: int = 20) -> list[TurnRecord]:
        """The last ``limit`` turns between ``character`` and ``player``, oldest first."""
        rows = self._read(
            "SELECT id, character, player, speaker, text, time, session FROM turns"
            " WHERE character = ? AND player = ? ORDER BY id DESC LIMIT ?",
            (character, player, max(0, int(limit))),
        )
        return [self._turn(r) for r in reversed(rows)]

    def add_memory(
        self,
        character: str,
        player: str,
        text: str,
        *,
        kind: MemoryKind = "observation",
        importance: float = 5.0,
        turn_ids: Sequence[int] = (),
        present: Sequence[str] | None = None,
        time: float | None = None,
        reason: str = "",
    ) -> MemoryRecord:
        """Store a memory ``character`` holds about ``player`` (a reflection, an event seen...).

        ``present`` lists who witnessed it (default: the character and the player); the
        character is always counted as present.
        """
        if kind not in _MEMORY_KINDS:
            raise StoreError(f"unknown memory kind {kind!r}; expected one of {_MEMORY_KINDS}")
        if not text.strip():
            raise StoreError("a memory needs text")
        when = self.clock() if time is None else float(time)
        who = _dedupe([character, *([player] if present is None else present)])
        imp = clamp(float(importance), 1.0, 10.0)
        segmented = index_text(text, self.segmentation)

        def write(conn: sqlite3.Connection) -> int:
            mem_id = _next_id(conn, "memories")
            conn.execute(
                "INSERT INTO memories (id, character, player, kind, text, importance, created,"
                " last_accessed, turn_ids, present, speaker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                (
                    mem_id,
                    character,
                    player,
                    kind,
                    text,
                    imp,
                    when,
                    when,
                    json.dumps([int(t) for t in turn_ids]),
                    json.dumps(who, ensure_ascii=False),
                ),
            )
            _set_high_water(conn, "memories", mem_id)
            conn.executemany(
                "INSERT OR IGNORE INTO memory_witnesses (memory_id, witness, player) VALUES (?, ?, ?)",
                [(mem_id, w, player) for w in who],
            )
            conn.execute(
                f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context)"
                " VALUES (?, '', '', ?, '')",
                (mem_id, scoped(segmented, scope_prefix(player))),
            )
            if self.embedder is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO embed_queue (memory_id, player, text) VALUES (?, ?, ?)",
                    (mem_id, player, text),
                )
            self._log(
                conn,
                "insert",
                "memory",
                mem_id,
                character,
                player,
                reason or kind,
                {"kind": kind, "importance": imp},
            )
            return mem_id

        mem_id = self._write(write)
        return MemoryRecord(
            id=mem_id,
            character=character,
            player=player,
            kind=kind,
            text=text,
            importance=imp,
            created=when,
            last_accessed=when,
            turn_ids=[int(t) for t in turn_ids],
            present=who,
        )

    def get_memory(self, memory_id: int) -> MemoryRecord:
        """One memory by id (raises NotFoundError)."""
        rows = self._read(f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        if not rows:
            raise NotFoundError(f"no memory {memory_id}")
        return self._memory(rows[0])

    def memories(self, character: str, player: str, *, limit: int = 200) -> list[MemoryRecord]:
        """Memories about ``player`` that ``character`` witnessed or was told, newest first."""
        rows = self._read(
            f"SELECT {', '.join('m.' + c.strip() for c in _MEMORY_COLUMNS.split(','))}"
            " FROM memory_witnesses w JOIN memories m ON m.id = w.memory_id"
            " WHERE w.player = ? AND w.witness = ? ORDER BY w.memory_id DESC LIMIT ?",
            (player, character, max(0, int(limit))),
        )
        return [self._memory(r) for r in rows]

    def set_importance(
        self, memory_id: int, importance: float, *, reason: str = "rescored"
    ) -> None:
        """Change a memory's importance (clamped to 1..10)."""
        value = clamp(float(importance), 1.0, 10.0)

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT character, player, importance FROM memories WHERE id = ?", (memory_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no memory {memory_id}")
            conn.execute("UPDATE memories SET importance = ? WHERE id = ?", (value, memory_id))
            self._log(
                conn,
                "update",
                "memory",
                memory_id,
                row[0],
                row[1],
                reason,
                {"importance": [row[2], value]},
            )

        self._write(write)

    def share_memory(self, memory_id: int, character: str, *, reason: str = "told") -> None:
        """Let ``character`` know a memory too (it was told): it joins the witnesses."""

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT character, player, present FROM memories WHERE id = ?", (memory_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no memory {memory_id}")
            present = _dedupe([*json.loads(row[2] or "[]"), character])
            conn.execute(
                "UPDATE memories SET present = ? WHERE id = ?",
                (json.dumps(present, ensure_ascii=False), memory_id),
            )
            conn.execute(
                "INSERT OR IGNORE INTO memory_witnesses (memory_id, witness, player) VALUES (?, ?, ?)",
                (memory_id, character, row[1]),
            )
            self._log(
                conn, "update", "memory", memory_id, row[0], row[1], reason, {"told": character}
            )
            _bump_generation(conn)

        self._write(write)
        self._drop_vector_cache(None)

    def forget_memory(self, memory_id: int, *, reason: str = "player request") -> None:
        """Delete one memory everywhere: row, witnesses, index entry, embedding.

        An observation of a dialogue line takes the line with it (so it leaves the recent
        turns and its neighbours' indexed context), and a rolling summary that covered the
        line is dropped, to be rebuilt without it.
        """

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT character, player, kind FROM memories WHERE id = ?", (memory_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no memory {memory_id}")
            turns = [
                r[0] for r in conn.execute("SELECT id FROM turns WHERE memory_id = ?", (memory_id,))
            ]
            self._delete_memories(conn, [memory_id])
            self._delete_turns(conn, turns, reason)
            self._log(
                conn,
                "delete",
                "memory",
                memory_id,
                row[0],
                row[1],
                reason,
                {"kind": row[2], "turns": turns},
            )
            _bump_generation(conn)

        self._write(write)
        self._drop_vector_cache(None)

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
            lexical = self._lexical_candidates(character, player, query, w)
            cached = self._view(character, player)
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
        self, character: str, player: str, query: str, w: RecallWeights
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
            match = f"{_SEARCH_COLUMNS} : ({fts_query(terms, prefix=prefix)})"
            rows = self._read(f"{score} ORDER BY s LIMIT ?", (*weights, match, 3 * w.candidates))
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
                    f"{_SEARCH_COLUMNS} : (({either}) NOT ({common}))",
                    *weights,
                    f"{_SEARCH_COLUMNS} : (({either}) AND ({common}))",
                    3 * w.candidates,
                ),
            )
        # bm25() is lower-is-better and negative; flip it so higher is better.
        return {int(r[0]): max(1e-9, -float(r[1])) for r in rows}

    def _split_frequent(self, terms: list[str], prefix: str) -> tuple[list[str], list[str]]:
        """``terms`` as (searched, frequent): the most frequent words move to the second list
        while the others are found in more than ``lexical_budget`` of the player's memories
        (counted per word, so overlaps count twice). At least one word found anywhere stays
        searched: a word found nowhere adds nothing, so it cannot stand in for the others."""
        budget = self.lexical_budget
        if budget <= 0 or len(terms) < 2:
            return terms, []
        counts = self._read(
            "SELECT "
            + ", ".join(
                f"(SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)" for _ in terms
            ),
            [f"{_SEARCH_COLUMNS} : {fts_query([t], prefix=prefix)}" for t in terms],
        )[0]
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

    def _fetch_meta(
        self, ids: Iterable[int], character: str, player: str
    ) -> dict[int, tuple[float, float, str]]:
        """(importance, last_accessed, speaker) of each id that exists and ``character`` may
        recall about ``player`` (checked again here, whatever a cache holds)."""
        out: dict[int, tuple[float, float, str]] = {}
        for chunk in _chunks(sorted(ids), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._read(
                "SELECT m.id, m.importance, m.last_accessed, m.speaker FROM memories m"
                " JOIN memory_witnesses w ON w.memory_id = m.id AND w.witness = ? AND w.player = ?"
                f" WHERE m.player = ? AND m.id IN ({marks})",
                (character, player, player, *chunk),
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
        for speaker in speakers:
            names = {speaker}
            name = self.player_name(speaker)
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
        for chunk in _chunks(sorted(ids), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._read(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({marks})", chunk
            ):
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

            def write(conn: sqlite3.Connection, rows: Any = rows, vectors: Any = vectors) -> None:
                for r, vec in zip(rows, vectors, strict=True):
                    # Skip a memory forgotten while it was being embedded.
                    if conn.execute(
                        "DELETE FROM embed_queue WHERE memory_id = ?", (r[0],)
                    ).rowcount:
                        conn.execute(
                            "INSERT OR REPLACE INTO memory_vectors (memory_id, model, player, vector)"
                            " VALUES (?, ?, ?, ?)",
                            (r[0], model, r[1], to_blob(vec)),
                        )

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

    def _view(self, character: str, player: str) -> _CachedView:
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
            cached = self._views[key] = _CachedView(
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
            vec_rows = self._read(
                "SELECT rowid, memory_id, vector FROM memory_vectors WHERE rowid > ?"
                " AND +player = ? AND +model = ? ORDER BY rowid",
                (cached.vector_rowid, player, self.embedder.name),
            )
            if vec_rows:
                ids = np.fromiter((r[1] for r in vec_rows), np.int64, len(vec_rows))
                vectors = np.frombuffer(b"".join(r[2] for r in vec_rows), dtype="<f4")
                hit = view.set_vectors(ids, vectors.reshape(len(vec_rows), -1).astype(np.float32))
                # A vector of a memory written after the view was read: look at it again next time.
                late = [
                    r[0] for r, h in zip(vec_rows, hit, strict=True) if not h and r[1] > view.seen
                ]
                cached.vector_rowid = int(min(late) - 1 if late else vec_rows[-1][0])
            # Cluster a large view now (or file its new vectors), while a query is embedded.
            view.coarse_index()
        return cached
