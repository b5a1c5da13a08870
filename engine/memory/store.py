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
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from engine.errors import NotFoundError, StoreError
from engine.memory.base import (
    MEMORY_COLUMNS,
    MEMORY_KINDS,
    StoreBase,
    bump_generation,
    dedupe,
    next_id,
    set_high_water,
)
from engine.memory.knowledge import KnowledgeMixin
from engine.memory.recall import RecallMixin
from engine.memory.rights import RightsMixin
from engine.memory.schema import FTS_TABLE
from engine.memory.scoring import (
    clamp,
)
from engine.memory.text import index_text, scope_prefix, scoped
from engine.types import (
    MemoryKind,
    MemoryRecord,
    TurnRecord,
)

__all__ = ["MemoryStore"]

logger = logging.getLogger(__name__)


class MemoryStore(RightsMixin, RecallMixin, KnowledgeMixin, StoreBase):
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
                    "present": dedupe([row["character"], row["speaker"], *map(str, who)]),
                    "importance": clamp(float(row.get("importance", 5.0)), 1.0, 10.0),
                    "segmented": index_text(str(row["text"]), self.segmentation),
                }
            )
        return self._write(lambda conn: self._insert_turns(conn, prepared))

    def _insert_turns(self, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[int]:
        self._claim_ids(conn, ((r["character"], r["player"]) for r in rows))
        now = self.clock()
        next_turn = next_id(conn, "turns")
        next_mem = next_id(conn, "memories")
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
        set_high_water(conn, "turns", next_turn - 1)
        set_high_water(conn, "memories", next_mem - 1)
        conn.executemany(
            f"INSERT INTO memories ({MEMORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def recent_lines(self, character: str, player: str, limit: int = 60) -> list[tuple[str, str]]:
        """``(speaker, text)`` of the last ``limit`` turns between them, oldest first.

        What :meth:`recent_turns` reads, without building a record per row: a turn reads a
        longer window of plain lines than of records.
        """
        rows = self._read(
            "SELECT speaker, text FROM turns"
            " WHERE character = ? AND player = ? ORDER BY id DESC LIMIT ?",
            (character, player, max(0, int(limit))),
        )
        return [(str(r[0]), str(r[1])) for r in reversed(rows)]

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
        if kind not in MEMORY_KINDS:
            raise StoreError(f"unknown memory kind {kind!r}; expected one of {MEMORY_KINDS}")
        if not text.strip():
            raise StoreError("a memory needs text")
        when = self.clock() if time is None else float(time)
        who = dedupe([character, *([player] if present is None else present)])
        imp = clamp(float(importance), 1.0, 10.0)
        segmented = index_text(text, self.segmentation)

        def write(conn: sqlite3.Connection) -> int:
            self._claim_ids(conn, [(character, player)])
            mem_id = next_id(conn, "memories")
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
            set_high_water(conn, "memories", mem_id)
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
        rows = self._read(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        if not rows:
            raise NotFoundError(f"no memory {memory_id}")
        return self._memory(rows[0])

    def memories(self, character: str, player: str, *, limit: int = 200) -> list[MemoryRecord]:
        """Memories about ``player`` that ``character`` witnessed or was told, newest first."""
        rows = self._read(
            f"SELECT {', '.join('m.' + c.strip() for c in MEMORY_COLUMNS.split(','))}"
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
            present = dedupe([*json.loads(row[2] or "[]"), character])
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
            bump_generation(conn)

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
            bump_generation(conn)

        self._write(write)
        self._drop_vector_cache(None)
