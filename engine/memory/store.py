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

import contextlib
import hashlib
import json
import logging
import random
import re
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlite_utils import Database

from engine.errors import NotFoundError, StoreError
from engine.memory.embeddings import Embedder, from_blob, to_blob
from engine.memory.ranking import ConversationView, relevance
from engine.memory.schema import FTS_TABLE, MIGRATIONS, TABLES
from engine.memory.scoring import (
    RecallWeights,
    clamp,
    derive_stage,
    score_candidates,
)
from engine.memory.text import Segmentation, fts_query, index_text, query_terms
from engine.memory.types import (
    Fact,
    MemoryKind,
    MemoryRecord,
    Recalled,
    Relationship,
    Summary,
    TurnRecord,
)
from engine.persona import RelationshipDefaults
from engine.tokens import estimate_tokens

__all__ = ["MemoryStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MEMORY_KINDS = ("observation", "summary", "reflection", "event")
_MEMORY_COLUMNS = (
    "id, character, player, kind, text, importance, created, last_accessed, turn_ids, present, speaker"
)
_SEARCH_COLUMNS = "{speaker text context}"


def _is_busy(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in message or "busy" in message
    )


def scope_token(player: str) -> str:
    """The FTS token that marks every indexed memory about ``player`` (digits, never stemmed)."""
    digest = hashlib.sha1(player.encode("utf-8")).hexdigest()[:15]
    return "p" + str(int(digest, 16))


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _json_ids(text: str | None) -> list[int]:
    return [int(i) for i in json.loads(text or "[]")]


class MemoryStore:
    """Per-player memory of every character in one world, in one SQLite file.

    ``path`` is the world file (created if missing; ``":memory:"`` for a throw-away store).
    ``embedder`` turns on semantic recall (memories are embedded lazily, in batches, by
    :meth:`embed_pending` or at the next recall). ``weights`` set how recall ranks. ``clock``
    gives the time for records that do not pass one (game time or wall time, in seconds).
    ``segmentation`` picks how Chinese is split for the index (fixed once a file has data).
    ``busy_timeout`` is how long a busy file is retried before :class:`StoreError`;
    ``embed_on_recall`` bounds how many waiting memories a recall embeds first.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        embedder: Embedder | None = None,
        weights: RecallWeights | None = None,
        clock: Callable[[], float] = _time.time,
        segmentation: Segmentation = "jieba",
        busy_timeout: float = 30.0,
        embed_on_recall: int = 64,
    ) -> None:
        self.path = str(path)
        self.embedder = embedder
        self.weights = weights or RecallWeights()
        self.clock = clock
        self.segmentation: Segmentation = segmentation
        self.busy_timeout = busy_timeout
        self.embed_on_recall = embed_on_recall
        # Per (character, player): the memories the character may recall, in id order, with
        # their embeddings (see engine.memory.ranking). Filled incrementally by recall.
        self._views: dict[tuple[str, str], _CachedView] = {}
        self._session_codes: dict[tuple[str, str | None], int] = {}
        self._generation = "0"
        try:
            conn = sqlite3.connect(
                self.path, timeout=min(busy_timeout, 5.0), check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open world file {self.path}: {exc}") from exc
        self.db = Database(conn)
        try:
            self._retry(self._setup)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"cannot open world file {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ plumbing

    def _setup(self) -> None:
        conn = self.db.conn
        if self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (not a power cut).
        conn.execute("PRAGMA synchronous=NORMAL")
        # Deleted content is overwritten, so forgetting a player leaves no bytes behind.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-32000")
        if MIGRATIONS.pending(self.db):
            MIGRATIONS.apply(self.db)

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying while the file is busy; other SQLite errors become StoreError."""
        deadline = _time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if self.db.conn.in_transaction:
                    self.db.conn.rollback()
                if not _is_busy(exc) or _time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: {exc}") from exc
                logger.debug("world file busy, retrying in %.3fs", delay)
                _time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)
            except sqlite3.DatabaseError as exc:
                if self.db.conn.in_transaction:
                    self.db.conn.rollback()
                raise StoreError(f"{self.path}: {exc}") from exc

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one IMMEDIATE transaction (all or nothing), retried while busy."""
        conn = self.db.conn

        def attempt() -> T:
            if conn.in_transaction:  # nested call: part of the caller's transaction
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            return result

        return self._retry(attempt)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row | tuple[Any, ...]]:
        return self._retry(lambda: self.db.conn.execute(sql, tuple(params)).fetchall())

    def _log(
        self,
        conn: sqlite3.Connection,
        op: str,
        entity: str,
        entity_id: Any,
        character: str | None,
        player: str | None,
        reason: str,
        detail: dict[str, Any] | None = None,
        *,
        now: float | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO history (time, op, entity, entity_id, character, player, reason, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.clock() if now is None else now,
                op,
                entity,
                None if entity_id is None else str(entity_id),
                character,
                player,
                reason,
                json.dumps(detail, ensure_ascii=False) if detail else None,
            ),
        )

    def close(self) -> None:
        """Close the file. The store cannot be used afterwards."""
        with contextlib.suppress(sqlite3.Error):
            self.db.conn.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ turns

    @staticmethod
    def _display_name(conn: sqlite3.Connection, speaker: str) -> str:
        row = conn.execute("SELECT name FROM players WHERE player = ?", (speaker,)).fetchone()
        return str(row[0]) if row and row[0] else speaker

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
        context_updates: list[tuple[int, str]] = []
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
                (turn_id, pair[0], pair[1], row["speaker"], row["text"], when, row["session"], mem_id)
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
                    context_updates.append((prev_info["memory_id"], prev_context))
            fts_index[mem_id] = len(fts_rows)
            fts_rows.append(
                (mem_id, scope_token(pair[1]), labels[row["speaker"]], row["segmented"], context)
            )
            last[pair] = {
                "memory_id": mem_id,
                "segmented": row["segmented"],
                "session": row["session"],
                "before": context,
                "in_batch": True,
                "line": line,
            }
            hist_rows.append(
                (now, "insert", "turn", str(turn_id), pair[0], pair[1], "dialogue turn",
                 json.dumps({"memory_id": mem_id}))
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
        conn.executemany(
            f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context) VALUES (?, ?, ?, ?, ?)",
            fts_rows,
        )
        conn.executemany(
            f"UPDATE {FTS_TABLE} SET context = ? WHERE rowid = ?",
            [(ctx, mid) for mid, ctx in context_updates],
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

    @staticmethod
    def _turn(r: Any) -> TurnRecord:
        return TurnRecord(
            id=r[0], character=r[1], player=r[2], speaker=r[3], text=r[4], time=r[5], session=r[6]
        )

    # ------------------------------------------------------------------ memories

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
                (mem_id, character, player, kind, text, imp, when, when,
                 json.dumps([int(t) for t in turn_ids]), json.dumps(who, ensure_ascii=False)),
            )
            _set_high_water(conn, "memories", mem_id)
            conn.executemany(
                "INSERT OR IGNORE INTO memory_witnesses (memory_id, witness, player) VALUES (?, ?, ?)",
                [(mem_id, w, player) for w in who],
            )
            conn.execute(
                f"INSERT INTO {FTS_TABLE} (rowid, scope, speaker, text, context) VALUES (?, ?, '', ?, '')",
                (mem_id, scope_token(player), segmented),
            )
            if self.embedder is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO embed_queue (memory_id, player, text) VALUES (?, ?, ?)",
                    (mem_id, player, text),
                )
            self._log(conn, "insert", "memory", mem_id, character, player, reason or kind,
                      {"kind": kind, "importance": imp})
            return mem_id

        mem_id = self._write(write)
        return MemoryRecord(
            id=mem_id, character=character, player=player, kind=kind, text=text, importance=imp,
            created=when, last_accessed=when, turn_ids=[int(t) for t in turn_ids], present=who,
        )

    def _memory(self, r: Any) -> MemoryRecord:
        return MemoryRecord(
            id=r[0], character=r[1], player=r[2], kind=r[3], text=r[4], importance=r[5],
            created=r[6], last_accessed=r[7], turn_ids=_json_ids(r[8]),
            present=json.loads(r[9] or "[]"), speaker=r[10] or "",
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

    def set_importance(self, memory_id: int, importance: float, *, reason: str = "rescored") -> None:
        """Change a memory's importance (clamped to 1..10)."""
        value = clamp(float(importance), 1.0, 10.0)

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT character, player, importance FROM memories WHERE id = ?", (memory_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no memory {memory_id}")
            conn.execute("UPDATE memories SET importance = ? WHERE id = ?", (value, memory_id))
            self._log(conn, "update", "memory", memory_id, row[0], row[1], reason,
                      {"importance": [row[2], value]})

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
            self._log(conn, "update", "memory", memory_id, row[0], row[1], reason,
                      {"told": character})
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
            turns = [r[0] for r in conn.execute(
                "SELECT id FROM turns WHERE memory_id = ?", (memory_id,)
            )]
            self._delete_memories(conn, [memory_id])
            self._delete_turns(conn, turns, reason)
            self._log(conn, "delete", "memory", memory_id, row[0], row[1], reason,
                      {"kind": row[2], "turns": turns})
            _bump_generation(conn)

        self._write(write)
        self._drop_vector_cache(None)

    def _delete_memories(self, conn: sqlite3.Connection, ids: Sequence[int]) -> None:
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memory_witnesses WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memory_vectors WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM embed_queue WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)

    def _delete_turns(self, conn: sqlite3.Connection, turn_ids: Sequence[int], reason: str) -> None:
        """Delete turns, refresh their neighbours' context, drop summaries that covered them."""
        if not turn_ids:
            return
        gone = set(turn_ids)
        pairs: set[tuple[str, str]] = set()
        for chunk in _chunks(list(gone), 500):
            marks = ",".join("?" * len(chunk))
            pairs.update(
                (r[0], r[1]) for r in conn.execute(
                    f"SELECT character, player FROM turns WHERE id IN ({marks})", chunk
                )
            )
            neighbours: set[int] = set()
            for tid in chunk:
                for op, order in (("<", "DESC"), (">", "ASC")):
                    hit = conn.execute(
                        f"SELECT n.id FROM turns t JOIN turns n ON n.character = t.character"
                        f" AND n.player = t.player AND n.id {op} t.id WHERE t.id = ?"
                        f" ORDER BY n.id {order} LIMIT 1",
                        (tid,),
                    ).fetchone()
                    if hit:
                        neighbours.add(hit[0])
            conn.execute(f"DELETE FROM turns WHERE id IN ({marks})", chunk)
            self._refresh_context(conn, sorted(neighbours - gone))
        for character, player in pairs:
            row = conn.execute(
                "SELECT turn_ids FROM summaries WHERE character = ? AND player = ?",
                (character, player),
            ).fetchone()
            if row and gone.intersection(_json_ids(row[0])):
                conn.execute(
                    "DELETE FROM summaries WHERE character = ? AND player = ?", (character, player)
                )
                self._log(conn, "delete", "summary", None, character, player,
                          f"covered turns forgotten ({reason})")
            stale = [
                r[0] for r in conn.execute(
                    "SELECT id, turn_ids FROM memories WHERE character = ? AND player = ?"
                    " AND kind = 'summary'",
                    (character, player),
                )
                if gone.intersection(_json_ids(r[1]))
            ]
            self._delete_memories(conn, stale)

    def _refresh_context(self, conn: sqlite3.Connection, turn_ids: Sequence[int]) -> None:
        """Recompute what is indexed and embedded with each turn's memory from its neighbours.

        Used after a neighbouring line is deleted, so no copy of it stays in the index or in
        a vector: the memory's old vector is dropped and it is queued to be embedded again.
        """
        for tid in turn_ids:
            row = conn.execute(
                "SELECT character, player, session, memory_id, speaker, text FROM turns WHERE id = ?",
                (tid,),
            ).fetchone()
            if row is None or row[3] is None:
                continue
            parts = []
            previous = ""
            for op, order in (("<", "DESC"), (">", "ASC")):
                hit = conn.execute(
                    f"SELECT text, session, speaker FROM turns WHERE character = ? AND player = ?"
                    f" AND id {op} ? ORDER BY id {order} LIMIT 1",
                    (row[0], row[1], tid),
                ).fetchone()
                if hit and hit[1] == row[2]:
                    parts.append(index_text(hit[0], self.segmentation))
                    if op == "<":
                        previous = f"{self._display_name(conn, hit[2])}: {hit[0]}\n"
            conn.execute(
                f"UPDATE {FTS_TABLE} SET context = ? WHERE rowid = ?", (" ".join(parts), row[3])
            )
            had_vector = conn.execute(
                "DELETE FROM memory_vectors WHERE memory_id = ?", (row[3],)
            ).rowcount
            if had_vector or self.embedder is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO embed_queue (memory_id, player, text) VALUES (?, ?, ?)",
                    (row[3], row[1], previous + f"{self._display_name(conn, row[4])}: {row[5]}"),
                )

    # ------------------------------------------------------------------ recall

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
        refreshes the returned memories' last-accessed time to ``now``.
        """
        w = weights or self.weights
        now = self.clock() if now is None else float(now)
        k = max(0, int(k))
        if k == 0 or not isinstance(query, str):
            return []
        lexical = self._lexical_candidates(character, player, query, w)
        query_vector = None
        if self.embedder is not None:
            # Bounded, so a recall right after a bulk import stays fast; the rest is embedded
            # by later recalls or by embed_pending() when the game is idle.
            self.embed_pending(self.embed_on_recall, player=player)
        cached = self._view(character, player)
        view = cached.view
        if self.embedder is not None and view.has_vector.any() and query.strip():
            query_vector = self.embedder.embed([query], kind="query")[0].astype(np.float64)
        if not lexical and query_vector is None:
            return []
        named = self._named_speakers(query, set(view.speaker_names))
        smoothed, lex, sims = relevance(
            view, lexical=lexical, query_vector=query_vector, named_speakers=named, weights=w
        )
        n = min(len(view), max(w.candidates, k))
        if n == 0:
            return []
        top = np.argpartition(-smoothed, n - 1)[:n] if n < len(view) else np.arange(len(view))
        top = top[smoothed[top] > 0]
        if not len(top):
            return []
        best_value = float(smoothed[top].max())
        candidates = {int(view.ids[i]): int(i) for i in top}
        meta = self._fetch_meta(candidates, character, player)
        # A candidate deleted in between (by another connection) simply drops out.
        scores = score_candidates(
            relevance={m: float(smoothed[i]) / best_value for m, i in candidates.items() if m in meta},
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
            self._write(
                lambda conn: conn.executemany(
                    "UPDATE memories SET last_accessed = max(last_accessed, ?) WHERE id = ?",
                    [(now, i) for i in best],
                )
            )
        return [Recalled(memory=rows[i], score=scores[i]) for i in best if i in rows]

    def _lexical_candidates(
        self, character: str, player: str, query: str, w: RecallWeights
    ) -> dict[int, float]:
        terms = query_terms(query, self.segmentation)
        if not terms:
            return {}
        match = f'scope : "{scope_token(player)}" AND {_SEARCH_COLUMNS} : ({fts_query(terms)})'
        # The scope token limits the search to this player's memories; which of them this
        # character witnessed is decided by the conversation view (engine.memory.ranking), so
        # more rows are taken here to leave enough after that filter.
        rows = self._read(
            f"SELECT rowid, bm25({FTS_TABLE}, 0.0, ?, 1.0, ?) AS s FROM {FTS_TABLE}"
            f" WHERE {FTS_TABLE} MATCH ? ORDER BY s LIMIT ?",
            (w.speaker_weight, w.context_weight, match, 3 * w.candidates),
        )
        # bm25() is lower-is-better and negative; flip it so higher is better.
        return {int(r[0]): max(1e-9, -float(r[1])) for r in rows}

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
                if n and (n in words or ((" " in n or not n.isascii()) and len(n) >= 2 and n in lowered)):
                    named.add(speaker)
        return named

    def _fetch_memories(self, ids: Iterable[int]) -> dict[int, MemoryRecord]:
        out: dict[int, MemoryRecord] = {}
        for chunk in _chunks(sorted(ids), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._read(f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({marks})", chunk):
                out[int(r[0])] = self._memory(r)
        return out

    # ------------------------------------------------------------------ embeddings

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
                    if conn.execute("DELETE FROM embed_queue WHERE memory_id = ?", (r[0],)).rowcount:
                        conn.execute(
                            "INSERT OR REPLACE INTO memory_vectors (memory_id, model, player, vector)"
                            " VALUES (?, ?, ?, ?)",
                            (r[0], model, r[1], to_blob(vec)),
                        )

            self._write(write)
            done += len(rows)
        return done

    def _drop_vector_cache(self, player: str | None) -> None:
        """Forget cached views (after deletions or new witnesses); they reload on next recall."""
        if player is None:
            self._views.clear()
        else:
            for key in [key for key in self._views if key[1] == player]:
                del self._views[key]

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
        generation = self._read("SELECT value FROM store_meta WHERE key = 'generation'")
        current = str(generation[0][0]) if generation else "0"
        if current != self._generation:
            self._views.clear()
            self._generation = current
        key = (character, player)
        cached = self._views.get(key)
        if cached is None:
            dim = self.embedder.dim if self.embedder is not None else 0
            cached = self._views[key] = _CachedView(ConversationView(dim=dim))
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
                late = [r[0] for r, h in zip(vec_rows, hit, strict=True) if not h and r[1] > view.seen]
                cached.vector_rowid = int(min(late) - 1 if late else vec_rows[-1][0])
        return cached

    # ------------------------------------------------------------------ facts

    def add_fact(
        self,
        character: str,
        player: str,
        subject: str,
        predicate: str,
        obj: str,
        *,
        confidence: float = 0.8,
        source_turns: Sequence[int] = (),
        reason: str = "",
    ) -> Fact:
        """Record a fact about the player. A different object for the same (subject, predicate)
        supersedes the current fact (kept, marked ``superseded_by``); the same object raises
        the stored confidence and adds the source turns."""
        conf = clamp(float(confidence), 0.0, 1.0)
        subject, predicate, obj = subject.strip(), predicate.strip(), obj.strip()
        if not (subject and predicate and obj):
            raise StoreError("a fact needs a subject, a predicate and an object")
        now = self.clock()

        def write(conn: sqlite3.Connection) -> int:
            current = conn.execute(
                "SELECT id, object, confidence, source_turns FROM facts WHERE character = ?"
                " AND player = ? AND lower(subject) = lower(?) AND lower(predicate) = lower(?)"
                " AND superseded_by IS NULL ORDER BY id DESC",
                (character, player, subject, predicate),
            ).fetchall()
            for row in current:
                if row[1].casefold() == obj.casefold():
                    turns = sorted(set(_json_ids(row[3])) | {int(t) for t in source_turns})
                    new_conf = max(float(row[2]), conf)
                    conn.execute(
                        "UPDATE facts SET confidence = ?, source_turns = ? WHERE id = ?",
                        (new_conf, json.dumps(turns), row[0]),
                    )
                    self._log(conn, "update", "fact", row[0], character, player,
                              reason or "fact confirmed", {"confidence": [row[2], new_conf]})
                    return int(row[0])
            cur = conn.execute(
                "INSERT INTO facts (character, player, subject, predicate, object, confidence,"
                " source_turns, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (character, player, subject, predicate, obj, conf,
                 json.dumps([int(t) for t in source_turns]), now),
            )
            fact_id = int(cur.lastrowid or 0)
            self._log(conn, "insert", "fact", fact_id, character, player, reason or "fact learned")
            for row in current:
                conn.execute("UPDATE facts SET superseded_by = ? WHERE id = ?", (fact_id, row[0]))
                self._log(conn, "update", "fact", row[0], character, player,
                          "superseded by a contradicting fact", {"superseded_by": fact_id})
            return fact_id

        fact_id = self._write(write)
        rows = self._read(
            "SELECT id, character, player, subject, predicate, object, confidence, source_turns,"
            " created, superseded_by FROM facts WHERE id = ?",
            (fact_id,),
        )
        return self._fact(rows[0])

    @staticmethod
    def _fact(r: Any) -> Fact:
        return Fact(
            id=r[0], character=r[1], player=r[2], subject=r[3], predicate=r[4], object=r[5],
            confidence=r[6], source_turns=_json_ids(r[7]), created=r[8], superseded_by=r[9],
        )

    def facts(self, character: str, player: str, *, include_superseded: bool = False) -> list[Fact]:
        """Facts ``character`` holds about ``player``, oldest first."""
        extra = "" if include_superseded else " AND superseded_by IS NULL"
        rows = self._read(
            "SELECT id, character, player, subject, predicate, object, confidence, source_turns,"
            f" created, superseded_by FROM facts WHERE character = ? AND player = ?{extra}"
            " ORDER BY id",
            (character, player),
        )
        return [self._fact(r) for r in rows]

    # ------------------------------------------------------------------ relationship

    def relationship(
        self, character: str, player: str, *, defaults: RelationshipDefaults | None = None
    ) -> Relationship:
        """The relationship numbers (starting from ``defaults`` when nothing is stored yet)."""
        rows = self._read(
            "SELECT affinity, trust, familiarity, updated FROM relationships"
            " WHERE character = ? AND player = ?",
            (character, player),
        )
        turns = self._read(
            "SELECT count(*) FROM turns WHERE character = ? AND player = ?", (character, player)
        )[0][0]
        if rows:
            affinity, trust, familiarity, updated = rows[0]
        else:
            d = defaults or RelationshipDefaults()
            affinity, trust, familiarity, updated = d.affinity, d.trust, d.familiarity, 0.0
        return Relationship(
            character=character, player=player, affinity=affinity, trust=trust,
            familiarity=familiarity, stage=derive_stage(affinity, trust, familiarity),
            turns=int(turns), updated=updated,
        )

    def adjust_relationship(
        self,
        character: str,
        player: str,
        *,
        affinity: float = 0.0,
        trust: float = 0.0,
        familiarity: float = 0.0,
        reason: str = "",
        defaults: RelationshipDefaults | None = None,
    ) -> Relationship:
        """Add the deltas (each capped at ``defaults.max_change_per_turn``) and store the result.

        Affinity and trust stay in -100..100, familiarity in 0..100.
        """
        d = defaults or RelationshipDefaults()
        cap = d.max_change_per_turn
        deltas = {
            "affinity": clamp(affinity, -cap, cap),
            "trust": clamp(trust, -cap, cap),
            "familiarity": clamp(familiarity, -cap, cap),
        }
        now = self.clock()

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT affinity, trust, familiarity FROM relationships WHERE character = ? AND player = ?",
                (character, player),
            ).fetchone()
            before = row if row else (d.affinity, d.trust, d.familiarity)
            after = (
                clamp(before[0] + deltas["affinity"], -100, 100),
                clamp(before[1] + deltas["trust"], -100, 100),
                clamp(before[2] + deltas["familiarity"], 0, 100),
            )
            conn.execute(
                "INSERT INTO relationships (character, player, affinity, trust, familiarity, stage, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (character, player) DO UPDATE SET"
                " affinity = excluded.affinity, trust = excluded.trust,"
                " familiarity = excluded.familiarity, stage = excluded.stage, updated = excluded.updated",
                (character, player, *after, derive_stage(*after), now),
            )
            self._log(conn, "update" if row else "insert", "relationship", None, character, player,
                      reason or "relationship change",
                      {"before": list(before), "after": list(after)})

        self._write(write)
        return self.relationship(character, player, defaults=d)

    # ------------------------------------------------------------------ summaries

    def summary(self, character: str, player: str) -> Summary | None:
        """The rolling summary of older turns, if one was written."""
        rows = self._read(
            "SELECT text, turn_ids, updated FROM summaries WHERE character = ? AND player = ?",
            (character, player),
        )
        if not rows:
            return None
        return Summary(character=character, player=player, text=rows[0][0],
                       turn_ids=_json_ids(rows[0][1]), updated=rows[0][2])

    def set_summary(self, character: str, player: str, text: str, turn_ids: Sequence[int]) -> Summary:
        """Store the rolling summary; ``turn_ids`` are every turn it covers (old and new).

        If one of those turns is forgotten later, the summary is dropped so it can be rebuilt.
        """
        ids = sorted({int(t) for t in turn_ids})
        now = self.clock()

        def write(conn: sqlite3.Connection) -> None:
            existing = conn.execute(
                "SELECT 1 FROM summaries WHERE character = ? AND player = ?", (character, player)
            ).fetchone()
            missing = ids and conn.execute(
                "SELECT count(*) FROM turns WHERE character = ? AND player = ? AND id IN"
                " (SELECT value FROM json_each(?))",
                (character, player, json.dumps(ids)),
            ).fetchone()[0] != len(ids)
            if missing:
                raise StoreError("a summary may only cover stored turns of its own conversation")
            conn.execute(
                "INSERT INTO summaries (character, player, text, turn_ids, updated) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (character, player) DO UPDATE SET text = excluded.text,"
                " turn_ids = excluded.turn_ids, updated = excluded.updated",
                (character, player, text, json.dumps(ids), now),
            )
            self._log(conn, "update" if existing else "insert", "summary", None, character, player,
                      "rolling summary", {"turns": len(ids)})

        self._write(write)
        return Summary(character=character, player=player, text=text, turn_ids=ids, updated=now)

    def unsummarised_turns(self, character: str, player: str, *, keep_recent: int) -> list[TurnRecord]:
        """Turns older than the last ``keep_recent`` that the summary does not cover, oldest first."""
        current = self.summary(character, player)
        covered = set(current.turn_ids) if current else set()
        rows = self._read(
            "SELECT id, character, player, speaker, text, time, session FROM turns"
            " WHERE character = ? AND player = ? ORDER BY id",
            (character, player),
        )
        older = rows[: max(0, len(rows) - max(0, int(keep_recent)))]
        return [self._turn(r) for r in older if r[0] not in covered]

    def turns_over_budget(
        self, character: str, player: str, *, budget_tokens: int, keep_recent: int = 4
    ) -> list[TurnRecord]:
        """Unsummarised turns that no longer fit the recent-turns budget, oldest first.

        Walking back from the newest turn, turns are kept while their estimated tokens fit in
        ``budget_tokens`` (the last ``keep_recent`` always stay); the older unsummarised ones
        are returned, ready to be folded into the rolling summary. Empty when all fit.
        """
        current = self.summary(character, player)
        covered = set(current.turn_ids) if current else set()
        rows = self._read(
            "SELECT id, character, player, speaker, text, time, session FROM turns"
            " WHERE character = ? AND player = ? ORDER BY id",
            (character, player),
        )
        pending = [r for r in rows if r[0] not in covered]
        used = 0
        cut = len(pending)
        for i in range(len(pending) - 1, -1, -1):
            used += estimate_tokens(f"{pending[i][3]}: {pending[i][4]}")
            if len(pending) - i > keep_recent and used > budget_tokens:
                break
            cut = i
        return [self._turn(r) for r in pending[:cut]]

    # ------------------------------------------------------------------ players

    def set_player_name(self, player: str, name: str) -> None:
        """Remember the name a player goes by."""
        now = self.clock()

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT name FROM players WHERE player = ?", (player,)).fetchone()
            if row and row[0] == name:
                return
            conn.execute(
                "INSERT INTO players (player, name, updated) VALUES (?, ?, ?) ON CONFLICT (player)"
                " DO UPDATE SET name = excluded.name, updated = excluded.updated",
                (player, name, now),
            )
            self._log(conn, "update" if row else "insert", "player", player, None, player,
                      "player name", None)

        self._write(write)

    def player_name(self, player: str) -> str | None:
        """The name the player goes by, if known."""
        rows = self._read("SELECT name FROM players WHERE player = ?", (player,))
        return rows[0][0] if rows else None

    def has_met(self, character: str, player: str) -> bool:
        """Whether ``character`` has talked with ``player`` (or holds a relationship with them)."""
        rows = self._read(
            "SELECT EXISTS (SELECT 1 FROM turns WHERE character = ? AND player = ?)"
            " OR EXISTS (SELECT 1 FROM relationships WHERE character = ? AND player = ?)",
            (character, player, character, player),
        )
        return bool(rows[0][0])

    def pairs(self) -> list[tuple[str, str, int, int]]:
        """Every (character, player, turns, memories) conversation in the file."""
        rows = self._read(
            "SELECT character, player, sum(t), sum(m) FROM ("
            " SELECT character, player, count(*) AS t, 0 AS m FROM turns GROUP BY character, player"
            " UNION ALL SELECT character, player, 0, count(*) FROM memories GROUP BY character, player"
            ") GROUP BY character, player ORDER BY character, player"
        )
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    # ------------------------------------------------------------------ player rights

    def export(self, player: str, *, include_vectors: bool = False) -> dict[str, Any]:
        """Everything stored about ``player``, as JSON-ready data.

        Embedding vectors are listed by memory and model; ``include_vectors`` adds the numbers.
        """

        def rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
            cur = self.db.conn.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        def read() -> dict[str, Any]:
            data: dict[str, Any] = {"player": player, "name": None}
            name = self.db.conn.execute(
                "SELECT name FROM players WHERE player = ?", (player,)
            ).fetchone()
            data["name"] = name[0] if name else None
            data["turns"] = rows(
                "SELECT * FROM turns WHERE player = ? OR speaker = ? ORDER BY id", (player, player)
            )
            memories = rows(
                "SELECT * FROM memories WHERE player = ? OR id IN"
                " (SELECT memory_id FROM memory_witnesses WHERE witness = ?) ORDER BY id",
                (player, player),
            )
            for m in memories:
                m["turn_ids"] = json.loads(m["turn_ids"] or "[]")
                m["present"] = json.loads(m["present"] or "[]")
            data["memories"] = memories
            facts = rows("SELECT * FROM facts WHERE player = ? ORDER BY id", (player,))
            for f in facts:
                f["source_turns"] = json.loads(f["source_turns"] or "[]")
            data["facts"] = facts
            data["relationships"] = rows(
                "SELECT * FROM relationships WHERE player = ? ORDER BY character", (player,)
            )
            summaries = rows("SELECT * FROM summaries WHERE player = ? ORDER BY character", (player,))
            for s in summaries:
                s["turn_ids"] = json.loads(s["turn_ids"] or "[]")
            data["summaries"] = summaries
            vectors = []
            for r in self.db.conn.execute(
                "SELECT memory_id, model, vector FROM memory_vectors WHERE player = ? ORDER BY memory_id",
                (player,),
            ):
                item: dict[str, Any] = {"memory_id": r[0], "model": r[1]}
                if include_vectors:
                    item["vector"] = [round(float(x), 6) for x in from_blob(r[2])]
                vectors.append(item)
            data["embeddings"] = vectors
            history = rows("SELECT * FROM history WHERE player = ? ORDER BY id", (player,))
            for h in history:
                h["detail"] = json.loads(h["detail"]) if h["detail"] else None
            data["history"] = history
            return data

        return self._retry(read)

    def forget(self, player: str, *, reason: str = "player request") -> None:
        """Remove everything stored about ``player``: rows, index entries, embeddings, history.

        Lines the player spoke in other players' conversations go too, and the player leaves
        the witness lists of other memories. The full-text index is then rebuilt without the
        removed entries and the write-ahead log is checkpointed, so no copy of the text stays
        in the file. History keeps one line saying a player was forgotten, without their id.
        """

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            spoken = [r[0] for r in conn.execute(
                "SELECT id FROM turns WHERE speaker = ? AND player != ?", (player, player)
            )]
            spoken_memories = [r[0] for r in conn.execute(
                "SELECT memory_id FROM turns WHERE speaker = ? AND player != ?"
                " AND memory_id IS NOT NULL",
                (player, player),
            )]
            own = [r[0] for r in conn.execute("SELECT id FROM memories WHERE player = ?", (player,))]
            self._delete_memories(conn, own + spoken_memories)
            counts["memories"] = len(own) + len(spoken_memories)
            self._delete_turns(conn, spoken, reason)
            counts["turns"] = len(spoken) + conn.execute(
                "DELETE FROM turns WHERE player = ?", (player,)
            ).rowcount
            # Other memories the player witnessed: drop them from the witness lists.
            seen = [r[0] for r in conn.execute(
                "SELECT memory_id FROM memory_witnesses WHERE witness = ?", (player,)
            )]
            for mid in seen:
                row = conn.execute("SELECT present FROM memories WHERE id = ?", (mid,)).fetchone()
                if row:
                    present = [p for p in json.loads(row[0] or "[]") if p != player]
                    conn.execute(
                        "UPDATE memories SET present = ? WHERE id = ?",
                        (json.dumps(present, ensure_ascii=False), mid),
                    )
            conn.execute("DELETE FROM memory_witnesses WHERE witness = ?", (player,))
            for table in ("memory_vectors", "embed_queue", "facts", "relationships", "summaries"):
                counts[table] = conn.execute(f"DELETE FROM {table} WHERE player = ?", (player,)).rowcount
            conn.execute("DELETE FROM players WHERE player = ?", (player,))
            conn.execute(
                "DELETE FROM history WHERE player = ? OR (entity = 'player' AND entity_id = ?)",
                (player, player),
            )
            self._log(conn, "delete", "player", None, None, None, reason, counts)
            _bump_generation(conn)
            return counts

        counts = self._write(write)
        self._drop_vector_cache(None)
        # Merge the index so deleted entries are gone from its segments, then flush the WAL.
        self._write(lambda conn: conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
        if self.path != ":memory:":
            self._retry(lambda: self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        logger.info("forgot a player: %s", counts)

    # ------------------------------------------------------------------ maintenance

    def check(self) -> str:
        """``PRAGMA integrity_check`` of the file ("ok" when healthy)."""
        rows = self._read("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def tables(self) -> tuple[str, ...]:
        """The tables the store writes (the FTS index included)."""
        return TABLES


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    """The next id for ``turns`` or ``memories``: ids are never reused, even after deletes,
    so a cache elsewhere can never mistake a new row for a forgotten one."""
    top = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    mark = conn.execute(
        "SELECT value FROM store_meta WHERE key = ?", (f"{table}.high_water",)
    ).fetchone()
    return int(max(int(top), int(mark[0]) if mark else 0)) + 1


def _set_high_water(conn: sqlite3.Connection, table: str, last_id: int) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
        " value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        (f"{table}.high_water", str(last_id)),
    )


def _bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES ('generation', '1') ON CONFLICT (key)"
        " DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
    )


class _CachedView:
    """A conversation view and the last vector row it has seen."""

    def __init__(self, view: ConversationView) -> None:
        self.view = view
        self.vector_rowid = 0


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
