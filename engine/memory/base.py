"""Plumbing shared by the memory store's parts: the connection, transactions with retry,
the history log, deletion helpers and the ids that are never reused."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

import numpy as np
from sqlite_utils import Database

from engine.errors import EngineError, StoreError
from engine.memory._sqlite import in_transaction, retry
from engine.memory.embeddings import Embedder, from_blob, to_blob
from engine.memory.ledger import LEDGER_TABLES
from engine.memory.ranking import APPROXIMATE_FROM, ConversationView
from engine.memory.schema import FTS_TABLE, MIGRATIONS, TABLES
from engine.memory.scoring import (
    RecallWeights,
)
from engine.memory.text import (
    Segmentation,
    fts_query,
    index_text,
    query_terms,
    scope_prefix,
    scoped,
    split_frequent,
)
from engine.types import (
    MemoryRecord,
    TurnRecord,
)

__all__ = ["ADD_WITNESS", "QUEUE_EMBEDDING", "ReadAhead", "StoreBase"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Conversation views a store keeps in memory (each holds its conversation's embeddings).
MAX_CACHED_VIEWS = 64
#: Query embeddings a store keeps (a repeated question is not embedded twice).
MAX_CACHED_QUERIES = 256

#: Last-accessed times kept waiting for a write before recall writes them itself.
MAX_PENDING_TOUCHES = 2048

#: Index matches a full-text search scores before its most frequent words only refine (see
#: ``MemoryStore(lexical_budget=...)``).
LEXICAL_BUDGET = 1000

MEMORY_KINDS = ("observation", "summary", "reflection", "event")
MEMORY_COLUMNS = "id, character, player, kind, text, importance, created, last_accessed, turn_ids, present, speaker"
#: Queue a memory to be embedded (again): written so SQLite and PostgreSQL both take it.
QUEUE_EMBEDDING = (
    "INSERT INTO embed_queue (memory_id, player, text) VALUES (?, ?, ?) ON CONFLICT (memory_id)"
    " DO UPDATE SET player = excluded.player, text = excluded.text"
)
#: Add a witness to a memory (once).
ADD_WITNESS = (
    "INSERT INTO memory_witnesses (memory_id, witness, player) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


#: What a backend reads ahead for a batch of turns (see ``StoreBase._read_ahead``): the last
#: lines of each (character, player) conversation, and the names of the speakers.
ReadAhead = tuple[dict[tuple[str, str], list[Any]], dict[str, str | None]]


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def json_ids(text: str | None) -> list[int]:
    return [int(i) for i in json.loads(text or "[]")]


class StoreBase:
    """The connection, transactions and shared helpers of :class:`~engine.memory.MemoryStore`.

    Not used on its own: see :class:`~engine.memory.MemoryStore` for the parameters.
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
        approximate_from: int = APPROXIMATE_FROM,
        lexical_budget: int = LEXICAL_BUDGET,
    ) -> None:
        self.path = str(path)
        self.embedder = embedder
        self.weights = weights or RecallWeights()
        self.clock = clock
        self.segmentation: Segmentation = segmentation
        self.busy_timeout = busy_timeout
        self.embed_on_recall = embed_on_recall
        self.approximate_from = max(0, int(approximate_from))
        self.lexical_budget = max(0, int(lexical_budget))
        # Per (character, player): the memories the character may recall, in id order, with
        # their embeddings (see engine.memory.ranking). Filled incrementally by recall; the
        # least recently used are dropped beyond MAX_CACHED_VIEWS.
        self._views: OrderedDict[tuple[str, str], CachedView] = OrderedDict()
        self._session_codes: dict[tuple[str, str | None], int] = {}
        self._generation = "0"
        # (embedder name, query text) -> query embedding, least recently used dropped first.
        self._query_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        # One worker thread that embeds a recall's query while the full-text search runs.
        self._embed_worker: ThreadPoolExecutor | None = None
        # memory id -> last-accessed time set by recall and not yet written (see _write).
        self._touches: dict[int, float] = {}
        # (character, player) -> (lines, newest turn id counted, generation): see
        # engine.memory.knowledge.relationship.
        self._turn_counts: dict[tuple[str, str], tuple[int, int, str]] = {}
        self._open()

    # ------------------------------------------------------------------ the SQLite backend
    # What follows up to the shared helpers is the part a second backend replaces (see
    # engine.memory.postgres): opening, transactions, ids, the full-text index and vectors.

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(
                self.path, timeout=min(self.busy_timeout, 5.0), check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open world file {self.path}: {exc}") from exc
        self.db: Any = Database(conn)
        try:
            self._retry(self._setup)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"cannot open world file {self.path}: {exc}") from exc

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
        return retry(
            self.db.conn,
            fn,
            label=str(self.path),
            busy_timeout=self.busy_timeout,
            first_delay=0.005,
            max_delay=0.25,
        )

    def _write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in one IMMEDIATE transaction (all or nothing), retried while busy.

        Last-accessed times that recalls set since the previous write go into the same
        transaction (a write of its own per recall cost ~0.3 ms, and now and then the WAL
        checkpoint that SQLite runs in a committing call, ~14 ms at 1M memories).
        """
        touches = self._touches
        if not touches:
            return self._retry(lambda: in_transaction(self.db.conn, fn))
        pending = list(touches.items())

        def run(conn: sqlite3.Connection) -> T:
            conn.executemany(
                "UPDATE memories SET last_accessed = ? WHERE id = ? AND last_accessed < ?",
                [(when, memory_id, when) for memory_id, when in pending],
            )
            return fn(conn)

        result = self._retry(lambda: in_transaction(self.db.conn, run))
        for memory_id, when in pending:
            if touches.get(memory_id) == when:
                del touches[memory_id]
        return result

    def _touch(self, ids: Iterable[int], when: float) -> None:
        """Note that memories were recalled at ``when``; written with the next write, or once
        :data:`MAX_PENDING_TOUCHES` are waiting, or at close."""
        touches = self._touches
        for memory_id in ids:
            if touches.get(memory_id, -math.inf) < when:
                touches[memory_id] = when
        if len(touches) >= MAX_PENDING_TOUCHES:
            self.flush()

    def flush(self) -> None:
        """Write the last-accessed times recalls have set (done anyway by the next write and at
        close; other connections to the file see them from then on)."""
        if self._touches:
            self._write(lambda conn: None)

    def grouped(self, writes: Sequence[Callable[[], T]]) -> list[tuple[bool, Any]]:
        """Run several writes as one transaction: one commit for them all instead of one each
        (the commit is most of what a small write costs).

        Each write runs in a savepoint: one that raises is undone alone, and its exception is
        returned in its place. Returns, in order, ``(True, result)`` or ``(False, exception)``.
        Nothing is visible to other connections before the commit; if the commit itself fails,
        everything is rolled back and the error raised (then none of the writes happened).
        """
        conn = self.db.conn
        touches = dict(self._touches)
        self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        outcomes: list[tuple[bool, Any]] = []
        try:
            for write in writes:
                try:
                    outcomes.append((True, in_transaction(conn, _ignoring_conn(write))))
                except Exception as exc:  # noqa: BLE001 (returned to the write's caller)
                    outcomes.append((False, exc))
                    self._forget_caches(touches)  # they may hold what the undone write read
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            self._forget_caches(touches)
            raise
        return outcomes

    def _forget_caches(self, touches: dict[int, float]) -> None:
        """After a rollback: drop what was cached from the file (views, line counts: read
        afresh) and put back the last-accessed times waiting before (``touches``), since the
        rolled-back writes may have taken some, and reads among them added some of rows that
        no longer exist. Writing a time twice is harmless."""
        self._views.clear()
        self._turn_counts.clear()
        self._generation = ""
        self._touches.clear()
        self._touches.update(touches)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._retry(lambda: self.db.conn.execute(sql, tuple(params)).fetchall())

    def _read_with(self, fn: Callable[[Any], T]) -> T:
        """Run several reads in ``fn(conn)`` that must see one state of the file."""
        return self._retry(lambda: fn(self.db.conn))

    def _lock_players(self, conn: Any, players: Iterable[str]) -> None:
        """Serialise writes about these players with other writers (SQLite's one writer at a
        time already does)."""

    def _allocate_ids(self, conn: Any, table: str, count: int) -> int:
        """The first of ``count`` new ids for ``turns`` or ``memories`` (never reused)."""
        first = next_id(conn, table)
        set_high_water(conn, table, first + count - 1)
        return first

    @staticmethod
    def _among(ids: Sequence[int]) -> tuple[str, list[Any]]:
        """``column`` is one of ``ids``: the SQL after the column, and its parameters."""
        return f"IN ({','.join('?' * len(ids))})", list(ids)

    @staticmethod
    def _among_text(values: Sequence[str]) -> tuple[str, list[Any]]:
        """As :meth:`_among`, for text values."""
        return f"IN ({','.join('?' * len(values))})", list(values)

    def _read_ahead(
        self, conn: Any, pairs: Sequence[tuple[str, str]], speakers: set[str]
    ) -> ReadAhead | None:
        """What storing a batch of turns reads row by row, read at once: each conversation's
        last two lines (``id, text, session, memory_id, speaker``, newest first) and the name
        (or None) of every speaker of the batch and of those lines. None: read as planning
        goes, as SQLite does (a read is a function call, not a round trip)."""
        return None

    def _id_high_water(self, conn: Any, table: str) -> int:
        """The highest id ``turns`` or ``memories`` has ever given out."""
        return next_id(conn, table) - 1

    def _sync_counters(self, conn: Any, floors: dict[str, int]) -> None:
        """After rows were copied in with their ids: new ids start above them (and above
        ``floors``, the source's high-water marks of ``turns`` and ``memories``)."""
        for table, floor in floors.items():
            set_high_water(conn, table, max(floor, next_id(conn, table) - 1))

    def _index_insert(self, conn: Any, rows: Sequence[tuple[int, str, str, str, str]]) -> None:
        """Index memories: ``(memory id, player, speaker label, segmented text, context)``."""
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
                for mid, pl, label, txt, ctx in rows
            ],
        )

    def _index_set_context(self, conn: Any, rows: Sequence[tuple[int, str, str]]) -> None:
        """Replace indexed neighbour context: ``(memory id, player, segmented context)``."""
        conn.executemany(
            f"UPDATE {FTS_TABLE} SET context = ? WHERE rowid = ?",
            [(scoped(ctx, scope_prefix(pl)), mid) for mid, pl, ctx in rows],
        )

    def _index_delete(self, conn: Any, ids: Sequence[int]) -> None:
        marks = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", list(ids))

    def _lexical_page(
        self, player: str, query: str, w: RecallWeights, limit: int
    ) -> dict[int, float]:
        """The best full-text matches for ``query`` among the player's memories (at most
        ``limit``), by id, with their bm25 score (higher is better)."""
        terms = query_terms(query, self.segmentation)
        if not terms:
            return {}
        prefix = scope_prefix(player)
        rare, frequent = self._split_frequent(terms, prefix)
        if not rare:  # no word of the query is in the player's memories
            return {}
        # No column filter: `scope` is empty in every row since migration m003 (each word
        # carries its player's prefix instead), so the matches, their bm25 scores and the
        # counts are those of `{speaker text context} : (...)`, without FTS5 filtering each
        # match's positions by column (~10% of a search).
        score = f"SELECT rowid, bm25({FTS_TABLE}, 0.0, ?, 1.0, ?) AS s FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
        weights = (w.speaker_weight, w.context_weight)
        # The player's prefix limits the search to this player's memories; which of them this
        # character witnessed is decided by the conversation view (engine.memory.ranking), so
        # more rows are taken here to leave enough after that filter.
        if not frequent:
            rows = self._read(
                f"{score} ORDER BY s LIMIT ?", (*weights, fts_query(rare, prefix=prefix), limit)
            )
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
                    f"({either}) NOT ({common})",
                    *weights,
                    f"({either}) AND ({common})",
                    limit,
                ),
            )
        # bm25() is lower-is-better and negative; flip it so higher is better (at least 1e-9).
        # SQLite gives the rowid as an int and bm25 as a float: no conversion, no call per row.
        return {rowid: (s if (s := -bm25) > 1e-9 else 1e-9) for rowid, bm25 in rows}

    def _split_frequent(self, terms: list[str], prefix: str) -> tuple[list[str], list[str]]:
        """``terms`` as (searched, frequent): the most frequent words move to the second list
        while the others are found in more than ``lexical_budget`` of the player's memories
        (counted per word, so overlaps count twice). At least one word found anywhere stays
        searched: a word found nowhere adds nothing, so it cannot stand in for the others.

        Once counted, the words found nowhere are dropped (none when every word is): they
        match no memory and add exactly 0 to every bm25 score, but each is one more phrase
        FTS5 looks up in every match (a typo, a name the player never said)."""
        if self.lexical_budget <= 0 or len(terms) < 2:
            return terms, []
        counts = self._term_counts(terms, prefix)
        found = [(t, c) for t, c in zip(terms, counts, strict=True) if c]
        return split_frequent([t for t, _ in found], [c for _, c in found], self.lexical_budget)

    def _term_counts(self, terms: list[str], prefix: str) -> list[int]:
        """In how many of the player's memories (by ``prefix``) each term is found."""
        return [
            int(c)
            for c in self._read(
                "SELECT "
                + ", ".join(
                    f"(SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)" for _ in terms
                ),
                [fts_query([t], prefix=prefix) for t in terms],
            )[0]
        ]

    def _compact(self) -> None:
        """After forgetting a player: merge the index so deleted entries are gone from its
        segments, then flush the WAL, so no copy of the text stays in the file."""
        self._write(
            lambda conn: conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
        )
        if self.path != ":memory:":
            self._retry(lambda: self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    def _put_vectors(self, conn: Any, rows: Sequence[tuple[int, str, str, np.ndarray]]) -> None:
        """Store embeddings: ``(memory id, model, player, vector)``."""
        conn.executemany(
            "INSERT OR REPLACE INTO memory_vectors (memory_id, model, player, vector)"
            " VALUES (?, ?, ?, ?)",
            [(mid, model, player, to_blob(vec)) for mid, model, player, vec in rows],
        )

    def _vectors_since(
        self, after: int, player: str, model: str
    ) -> list[tuple[int, int, np.ndarray]]:
        """``(position, memory id, vector)`` stored after position ``after``, in order."""
        rows = self._read(
            "SELECT rowid, memory_id, vector FROM memory_vectors WHERE rowid > ?"
            " AND +player = ? AND +model = ? ORDER BY rowid",
            (after, player, model),
        )
        return [(int(r[0]), int(r[1]), np.frombuffer(r[2], dtype="<f4")) for r in rows]

    def _vector_values(self, stored: Any) -> np.ndarray:
        return from_blob(stored)

    def _ledger_tables(self, conn: Any) -> list[str]:
        """The ledger tables present in this file (a world that was never metered has none)."""
        present = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return [t for t in LEDGER_TABLES if t in present]

    def _ledger_tables_ordered(self, conn: Any) -> list[tuple[str, str]]:
        """The ledger tables present, each with the order its rows are exported in."""
        return [(table, "rowid") for table in self._ledger_tables(conn)]

    def check(self) -> str:
        """``PRAGMA integrity_check`` of the file ("ok" when healthy)."""
        rows = self._read("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ shared helpers

    def _stored_generation(self) -> str:
        """Bumped (by any connection) on deletions and new witnesses: what was cached from the
        file before a different value may be stale."""
        rows = self._read("SELECT value FROM store_meta WHERE key = 'generation'")
        return str(rows[0][0]) if rows else "0"

    def _log(
        self,
        conn: Any,
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
        with contextlib.suppress(EngineError, sqlite3.Error):
            self.flush()
        if self._embed_worker is not None:
            self._embed_worker.shutdown(wait=True)
            self._embed_worker = None
        with contextlib.suppress(sqlite3.Error):
            self.db.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _claim_ids(self, conn: Any, pairs: Iterable[tuple[str, str]]) -> None:
        """Register the characters of (character, player) pairs about to be written; refuse a
        player id that is a character id, or a character id that is already a player id.

        The two namespaces must stay apart: player rights (export, forget) follow a player id
        into ``speaker`` and witness columns, where a character with the same id would be
        taken for the player."""
        pairs = set(pairs)
        for player in {p for _, p in pairs}:
            if conn.execute("SELECT 1 FROM characters WHERE character = ?", (player,)).fetchone():
                raise StoreError(
                    f"player id {player!r} is a character id; ids of players and characters must differ"
                )
        for character in {c for c, _ in pairs}:
            if conn.execute(
                "SELECT 1 FROM characters WHERE character = ?", (character,)
            ).fetchone():
                continue
            if (
                conn.execute(
                    "SELECT 1 FROM turns WHERE player = ? LIMIT 1", (character,)
                ).fetchone()
                or conn.execute(
                    "SELECT 1 FROM memories WHERE player = ? LIMIT 1", (character,)
                ).fetchone()
            ):
                raise StoreError(
                    f"character id {character!r} is a player id; ids of players and characters must differ"
                )
            conn.execute(
                "INSERT INTO characters (character) VALUES (?) ON CONFLICT DO NOTHING", (character,)
            )

    @staticmethod
    def _display_name(conn: Any, speaker: str) -> str:
        row = conn.execute("SELECT name FROM players WHERE player = ?", (speaker,)).fetchone()
        return str(row[0]) if row and row[0] else speaker

    @staticmethod
    def _turn(r: Any) -> TurnRecord:
        return TurnRecord(
            id=r[0], character=r[1], player=r[2], speaker=r[3], text=r[4], time=r[5], session=r[6]
        )

    def _memory(self, r: Any) -> MemoryRecord:
        return MemoryRecord(
            id=r[0],
            character=r[1],
            player=r[2],
            kind=r[3],
            text=r[4],
            importance=r[5],
            created=r[6],
            last_accessed=max(r[7], self._touches.get(r[0], r[7])),
            turn_ids=json_ids(r[8]),
            present=json.loads(r[9] or "[]"),
            speaker=r[10] or "",
        )

    def _delete_memories(self, conn: Any, ids: Sequence[int]) -> None:
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            self._index_delete(conn, chunk)
            conn.execute(f"DELETE FROM memory_witnesses WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memory_vectors WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM embed_queue WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)

    def _delete_turns(self, conn: Any, turn_ids: Sequence[int], reason: str) -> None:
        """Delete turns, refresh their neighbours' context, drop summaries that covered them."""
        if not turn_ids:
            return
        gone = set(turn_ids)
        pairs: set[tuple[str, str]] = set()
        for chunk in chunks(list(gone), 500):
            marks = ",".join("?" * len(chunk))
            pairs.update(
                (r[0], r[1])
                for r in conn.execute(
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
            if row and gone.intersection(json_ids(row[0])):
                conn.execute(
                    "DELETE FROM summaries WHERE character = ? AND player = ?", (character, player)
                )
                self._log(
                    conn,
                    "delete",
                    "summary",
                    None,
                    character,
                    player,
                    f"covered turns forgotten ({reason})",
                )
            stale = [
                r[0]
                for r in conn.execute(
                    "SELECT id, turn_ids FROM memories WHERE character = ? AND player = ?"
                    " AND kind = 'summary'",
                    (character, player),
                )
                if gone.intersection(json_ids(r[1]))
            ]
            self._delete_memories(conn, stale)

    def _refresh_context(self, conn: Any, turn_ids: Sequence[int]) -> None:
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
            self._index_set_context(conn, [(row[3], row[1], " ".join(parts))])
            had_vector = conn.execute(
                "DELETE FROM memory_vectors WHERE memory_id = ?", (row[3],)
            ).rowcount
            if had_vector or self.embedder is not None:
                conn.execute(
                    QUEUE_EMBEDDING,
                    (row[3], row[1], previous + f"{self._display_name(conn, row[4])}: {row[5]}"),
                )

    def _drop_vector_cache(self, player: str | None) -> None:
        """Forget cached views (after deletions or new witnesses); they reload on next recall."""
        if player is None:
            self._views.clear()
        else:
            for key in [key for key in self._views if key[1] == player]:
                del self._views[key]

    def tables(self) -> tuple[str, ...]:
        """The tables the store writes (the FTS index included)."""
        return TABLES


def _ignoring_conn(fn: Callable[[], T]) -> Callable[[sqlite3.Connection], T]:
    return lambda _conn: fn()


def next_id(conn: sqlite3.Connection, table: str) -> int:
    """The next id for ``turns`` or ``memories``: ids are never reused, even after deletes,
    so a cache elsewhere can never mistake a new row for a forgotten one."""
    top = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    mark = conn.execute(
        "SELECT value FROM store_meta WHERE key = ?", (f"{table}.high_water",)
    ).fetchone()
    return int(max(int(top), int(mark[0]) if mark else 0)) + 1


def set_high_water(conn: sqlite3.Connection, table: str, last_id: int) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
        " value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        (f"{table}.high_water", str(last_id)),
    )


def bump_generation(conn: Any) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES ('generation', '1') ON CONFLICT (key)"
        " DO UPDATE SET value = CAST(CAST(store_meta.value AS INTEGER) + 1 AS TEXT)"
    )


class CachedView:
    """A conversation view and the last vector row it has seen."""

    def __init__(self, view: ConversationView) -> None:
        self.view = view
        self.vector_rowid = 0


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
