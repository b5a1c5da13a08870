"""The memory store on PostgreSQL: :class:`~engine.memory.MemoryStore`'s methods, one world
shared by many processes.

Only the backend's parts differ from the SQLite store (see the "SQLite backend" section of
``engine.memory.base``): transactions on a pooled connection (:mod:`.connection`), ids from
sequences, the full-text index and bm25 in :mod:`.terms`, vectors in pgvector.

Many writers: SQLite lets one writer in at a time, so a read-then-write (the previous line of a
conversation, a fact to supersede, a relationship to adjust, a summary to replace) cannot
interleave with another. Here every such write first takes a transaction-scoped advisory lock
on the player it is about, so writes about one player are serialised across processes while
writes about different players run in parallel. Quota updates are conditional ``UPDATE``
statements under the ledger's own per-player lock.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from engine.errors import EngineError, StoreError
from engine.memory.base import ReadAhead
from engine.memory.methods import StoreMethods
from engine.memory.postgres.connection import PgConnection, PgDatabase
from engine.memory.postgres.schema import SHARDS
from engine.memory.postgres.terms import bm25, lexemes, tsquery_literal, tsvector_literal
from engine.memory.scoring import RecallWeights
from engine.memory.text import query_terms, scope_prefix, split_frequent

__all__ = ["PostgresMemoryStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ID_SEQUENCES = {"turns": "turns_id_seq", "memories": "memories_id_seq"}
_LEDGER_ORDER = {"usage": "id", "quota_usage": "day", "quota_reservations": "id", "audit": "id"}


def _shard(player: str) -> int:
    return zlib.crc32(player.encode("utf-8", "surrogatepass")) % SHARDS


class PostgresMemoryStore(StoreMethods):
    """:class:`~engine.memory.MemoryStore` on a PostgreSQL database (``postgresql://`` URL).

    Made by ``MemoryStore("postgresql://...")``; takes the same parameters. ``busy_timeout``
    bounds how long a write is retried while the server is unreachable.

    >>> store = MemoryStore("postgresql://npc@db.internal/world")  # doctest: +SKIP
    """

    db: PgDatabase

    def _open(self) -> None:
        self.db = PgDatabase(self.path, busy_timeout=self.busy_timeout)

    # ------------------------------------------------------------------ transactions

    def _retry(self, fn: Callable[[], T]) -> T:
        return self.db.read(lambda _conn: fn())

    def _write(self, fn: Callable[[Any], T]) -> T:
        touches = self._touches
        pending = list(touches.items())

        def run(conn: PgConnection) -> T:
            if pending:
                conn.executemany(
                    "UPDATE memories SET last_accessed = ? WHERE id = ? AND last_accessed < ?",
                    [(when, memory_id, when) for memory_id, when in pending],
                )
            return fn(conn)

        result = self.db.write(run)
        for memory_id, when in pending:
            if touches.get(memory_id) == when:
                del touches[memory_id]
        return result

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.read(lambda conn: conn.execute(sql, params).fetchall())

    def _read_with(self, fn: Callable[[Any], T]) -> T:
        return self.db.read(fn, snapshot=True)

    def grouped(self, writes: Sequence[Callable[[], T]]) -> list[tuple[bool, Any]]:
        touches = dict(self._touches)

        def run(conn: PgConnection) -> list[tuple[bool, Any]]:
            outcomes: list[tuple[bool, Any]] = []
            for write in writes:
                try:
                    outcomes.append((True, self.db.write(lambda _c, w=write: w())))  # type: ignore[misc]
                except Exception as exc:  # noqa: BLE001 (returned to the write's caller)
                    if isinstance(exc, StoreError) and conn.raw.broken:
                        raise
                    outcomes.append((False, exc))
                    self._forget_caches(touches)
            return outcomes

        try:
            return self.db.group(run)
        except BaseException:
            self._forget_caches(touches)
            raise

    def close(self) -> None:
        try:
            self.flush()
        except EngineError:
            logger.warning("could not write last-accessed times at close", exc_info=True)
        if self._embed_worker is not None:
            self._embed_worker.shutdown(wait=True)
            self._embed_worker = None
        self.db.close()

    def _lock_players(self, conn: Any, players: Iterable[str]) -> None:
        self.db.lock_keys(conn, "player", players)

    def _allocate_ids(self, conn: Any, table: str, count: int) -> int:
        rows = conn.execute(
            "SELECT nextval(?) FROM generate_series(1, ?)", (_ID_SEQUENCES[table], count)
        ).fetchall()
        ids = sorted(int(r[0]) for r in rows)
        if ids != list(range(ids[0], ids[0] + count)):
            # Another writer took ids in between: take a fresh contiguous block under a lock.
            conn.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(table.encode()),))
            first = int(
                conn.execute(
                    "SELECT setval(?, nextval(?) + ? - 1)",
                    (_ID_SEQUENCES[table], _ID_SEQUENCES[table], count),
                ).fetchone()[0]
            )
            return first - count + 1
        return ids[0]

    @staticmethod
    def _among(ids: Sequence[int]) -> tuple[str, list[Any]]:
        # One array parameter: the same prepared statement whatever the number of ids.
        return "= ANY(?)", [list(ids)]

    @staticmethod
    def _among_text(values: Sequence[str]) -> tuple[str, list[Any]]:
        return "= ANY(?)", [list(values)]

    def _id_high_water(self, conn: Any, table: str) -> int:
        row = conn.execute(f"SELECT last_value, is_called FROM {_ID_SEQUENCES[table]}").fetchone()
        return int(row[0]) if row[1] else 0

    def _sync_counters(self, conn: Any, floors: dict[str, int]) -> None:
        for table, seq in _ID_SEQUENCES.items():
            top = int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
            value = max(top, floors.get(table, 0), self._id_high_water(conn, table))
            if value > 0:
                conn.execute("SELECT setval(?, ?)", (seq, value))
        for table in ("facts", "history", "usage", "quota_reservations", "audit"):
            top = int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
            if top > 0:
                conn.execute("SELECT setval(pg_get_serial_sequence(?, 'id'), ?)", (table, top))

    def _read_ahead(
        self, conn: Any, pairs: Sequence[tuple[str, str]], speakers: set[str]
    ) -> ReadAhead:
        unique = sorted(set(pairs))
        found: dict[tuple[str, str], list[Any]] = {pair: [] for pair in unique}
        for character, player, *row in conn.execute(
            "SELECT p.c, p.pl, t.id, t.text, t.session, t.memory_id, t.speaker"
            " FROM unnest(?::text[], ?::text[]) AS p(c, pl) CROSS JOIN LATERAL ("
            "  SELECT id, text, session, memory_id, speaker FROM turns"
            "  WHERE character = p.c AND player = p.pl ORDER BY id DESC LIMIT 2) AS t"
            " ORDER BY p.c, p.pl, t.id DESC",
            ([c for c, _ in unique], [p for _, p in unique]),
        ).fetchall():
            found[(character, player)].append(row)
        wanted = speakers | {r[4] for rows in found.values() for r in rows}
        names = dict(
            conn.execute(
                "SELECT player, name FROM players WHERE player = ANY(?)", (sorted(wanted),)
            ).fetchall()
        )
        return found, {who: names.get(who) for who in wanted}

    def _claim_ids(self, conn: Any, pairs: Iterable[tuple[str, str]]) -> None:
        """As on SQLite (player and character ids stay apart), in three statements."""
        pairs = set(pairs)
        players = sorted({p for _, p in pairs})
        characters = sorted({c for c, _ in pairs})
        clash = conn.execute(
            "SELECT character FROM characters WHERE character = ANY(?) LIMIT 1", (players,)
        ).fetchall()
        if clash:
            raise StoreError(
                f"player id {clash[0][0]!r} is a character id; ids of players and characters must differ"
            )
        known = {
            r[0]
            for r in conn.execute(
                "SELECT character FROM characters WHERE character = ANY(?)", (characters,)
            ).fetchall()
        }
        new = [c for c in characters if c not in known]
        if not new:
            return
        taken = conn.execute(
            "SELECT player FROM turns WHERE player = ANY(?) UNION"
            " SELECT player FROM memories WHERE player = ANY(?) LIMIT 1",
            (new, new),
        ).fetchall()
        if taken:
            raise StoreError(
                f"character id {taken[0][0]!r} is a player id; ids of players and characters must differ"
            )
        conn.executemany(
            "INSERT INTO characters (character) VALUES (?) ON CONFLICT DO NOTHING",
            [(c,) for c in new],
        )

    # ------------------------------------------------------------------ full-text index

    def _index_insert(self, conn: Any, rows: Sequence[tuple[int, str, str, str, str]]) -> None:
        out = []
        totals: dict[int, list[int]] = {}
        for mid, player, label, text, context in rows:
            cols = [lexemes(label), lexemes(text), lexemes(context)]
            length = sum(len(c) for c in cols)
            terms = tsvector_literal([w for c in cols for w in c], scope_prefix(player))
            out.append((mid, player, *(" ".join(c) for c in cols), length, terms))
            t = totals.setdefault(_shard(player), [0, 0])
            t[0] += 1
            t[1] += length
        conn.executemany(
            "INSERT INTO memory_index (memory_id, player, speaker, text, context, length, terms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?::tsvector)",
            out,
        )
        self._add_totals(conn, totals)

    @staticmethod
    def _add_totals(conn: Any, totals: dict[int, list[int]]) -> None:
        conn.executemany(
            "UPDATE index_totals SET docs = docs + ?, tokens = tokens + ? WHERE shard = ?",
            [(d, t, shard) for shard, (d, t) in sorted(totals.items())],
        )

    def _index_set_context(self, conn: Any, rows: Sequence[tuple[int, str, str]]) -> None:
        totals: dict[int, list[int]] = {}
        for mid, player, context in rows:
            old = conn.execute(
                "SELECT speaker, text, length FROM memory_index WHERE memory_id = ?", (mid,)
            ).fetchone()
            if old is None:
                continue
            words = lexemes(context)
            length = len(old[0].split()) + len(old[1].split()) + len(words)
            terms = tsvector_literal(
                [*old[0].split(), *old[1].split(), *words], scope_prefix(player)
            )
            conn.execute(
                "UPDATE memory_index SET context = ?, length = ?, terms = ?::tsvector"
                " WHERE memory_id = ?",
                (" ".join(words), length, terms, mid),
            )
            totals.setdefault(_shard(player), [0, 0])[1] += length - int(old[2])
        self._add_totals(conn, totals)

    def _index_delete(self, conn: Any, ids: Sequence[int]) -> None:
        totals: dict[int, list[int]] = {}
        deleted = conn.execute(
            "DELETE FROM memory_index WHERE memory_id = ANY(?) RETURNING player, length",
            (list(ids),),
        ).fetchall()
        for player, length in deleted:
            t = totals.setdefault(_shard(player), [0, 0])
            t[0] -= 1
            t[1] -= int(length)
        self._add_totals(conn, totals)

    def _compact(self) -> None:
        """Deleted rows stay in PostgreSQL's pages until vacuumed: vacuum the tables that held
        the player's text, so the space is reused and overwritten."""
        self.db.read(
            lambda conn: conn.raw.execute(
                "VACUUM turns, memories, memory_index, memory_vectors, embed_queue, facts,"
                " summaries, history, players"
            )
        )

    def _term_counts(self, terms: list[str], prefix: str) -> list[int]:
        return self._read_with(
            lambda conn: self._counts(conn, [lexemes(t) for t in terms], prefix)[0]
        )

    @staticmethod
    def _counts(conn: Any, groups: list[list[str]], prefix: str) -> tuple[list[int], int, int]:
        """In how many memories each group of lexemes is found (any of them), and the
        index's rows and lexemes (for bm25), in one statement."""
        literals = [tsquery_literal(g, prefix) for g in groups]
        asked = [q for q in literals if q]
        row = conn.execute(
            "SELECT (SELECT coalesce(sum(docs), 0) FROM index_totals),"
            " (SELECT coalesce(sum(tokens), 0) FROM index_totals)"
            + "".join(
                ", (SELECT count(*) FROM memory_index WHERE terms @@ ?::tsquery)" for _ in asked
            ),
            asked,
        ).fetchall()[0]
        found = iter(row[2:])
        return [int(next(found)) if q else 0 for q in literals], int(row[0]), int(row[1])

    def _lexical_page(
        self, player: str, query: str, w: RecallWeights, limit: int
    ) -> dict[int, float]:
        terms = query_terms(query, self.segmentation)
        if not terms:
            return {}
        prefix = scope_prefix(player)
        groups = [lexemes(t) for t in terms]
        scored = list(dict.fromkeys(x for g in groups for x in g if tsquery_literal([x], prefix)))
        if not scored:
            return {}

        def read(conn: PgConnection) -> tuple[list[Any], list[int], int, int]:
            # Each term counted once (by its lexemes), and each lexeme for bm25's weights.
            counts, docs, tokens = self._counts(conn, [*groups, *([x] for x in scored)], prefix)
            rare, _frequent = split_frequent(terms, counts[: len(terms)], self.lexical_budget)
            searched = [x for t, g in zip(terms, groups, strict=True) if t in rare for x in g]
            rows = conn.execute(
                "SELECT memory_id, speaker, text, context, length FROM memory_index"
                " WHERE terms @@ ?::tsquery AND player = ?",
                (tsquery_literal(searched, prefix), player),
            ).fetchall()
            return rows, counts[len(terms) :], docs, tokens

        rows, hits, docs, tokens = self.db.read(read)
        if not rows:
            return {}
        average = tokens / docs if docs else 1.0
        weights = (w.speaker_weight, 1.0, w.context_weight)
        scores = {
            int(r[0]): bm25(r[1:4], weights, scored, hits, docs, average, int(r[4])) for r in rows
        }
        # FTS5 orders by its bm25 (ties by rowid as found): best first, ``limit`` of them.
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return {m: max(1e-9, s) for m, s in best}

    # ------------------------------------------------------------------ vectors and catalog

    def _put_vectors(self, conn: Any, rows: Sequence[tuple[int, str, str, np.ndarray]]) -> None:
        conn.executemany(
            "INSERT INTO memory_vectors (memory_id, model, player, vector) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (memory_id, model) DO UPDATE SET vector = excluded.vector,"
            " player = excluded.player, seq = nextval('memory_vectors_seq_seq')",
            [
                (mid, model, player, np.asarray(vec, dtype=np.float32))
                for mid, model, player, vec in rows
            ],
        )

    def _vectors_since(
        self, after: int, player: str, model: str
    ) -> list[tuple[int, int, np.ndarray]]:
        rows = self._read(
            "SELECT seq, memory_id, vector FROM memory_vectors WHERE player = ? AND model = ?"
            " AND seq > ? ORDER BY seq",
            (player, model, after),
        )
        return [(int(r[0]), int(r[1]), self._vector_values(r[2])) for r in rows]

    def _vector_values(self, stored: Any) -> np.ndarray:
        if hasattr(stored, "to_numpy"):  # pgvector's Vector
            stored = stored.to_numpy()
        return np.asarray(stored, dtype=np.float32)

    def _ledger_tables(self, conn: Any) -> list[str]:
        return list(_LEDGER_ORDER)

    def _ledger_tables_ordered(self, conn: Any) -> list[tuple[str, str]]:
        return list(_LEDGER_ORDER.items())

    def check(self) -> str:
        """ "ok" when every table the store needs is present and the server answers."""
        rows = self._read(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name = ANY(?)",
            (list(self.tables()),),
        )
        missing = len(self.tables()) - int(rows[0][0])
        return "ok" if missing == 0 else f"{missing} tables missing"

    def tables(self) -> tuple[str, ...]:
        from engine.memory.postgres.schema import TABLES

        return TABLES
