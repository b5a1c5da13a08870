"""The PostgreSQL world's schema: versioned migrations, applied once per database.

The same tables and columns as the SQLite world (``engine.memory.schema`` and the ledger's),
so an export, a migration between the two and the operators' queries read alike. What differs:
ids come from sequences (concurrent writers never pick the same one, ids are never reused);
the full-text index is ``memory_index`` (lexeme strings per column and a ``tsvector`` of the
player-prefixed lexemes, see :mod:`.terms`); vectors are pgvector ``vector`` values; and
``index_totals`` keeps the row and lexeme counts bm25 needs, in 16 shards so concurrent
writers rarely touch the same row.

Migrations are append-only. :func:`migrate` takes an advisory lock first, so processes that
start together apply each migration exactly once (the others wait, then find it done).
"""

from __future__ import annotations

import time
from typing import Any

from engine.memory import schema as sqlite_schema

__all__ = ["MIGRATIONS", "SHARDS", "TABLES", "migrate"]

#: Shards of ``index_totals`` (a player's counts live in shard ``crc32(player) % SHARDS``).
SHARDS = 16

#: Every table the store writes, for export/forget, migration and the tests that scan them:
#: the SQLite world's, with ``memory_index`` in place of its FTS5 table.
TABLES = tuple("memory_index" if t == sqlite_schema.FTS_TABLE else t for t in sqlite_schema.TABLES)

_M001 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SEQUENCE turns_id_seq;
CREATE SEQUENCE memories_id_seq;
CREATE TABLE turns (
    id BIGINT PRIMARY KEY, character TEXT NOT NULL, player TEXT NOT NULL, speaker TEXT NOT NULL,
    text TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, session TEXT, memory_id BIGINT);
CREATE INDEX idx_turns_pair ON turns (character, player, id);
CREATE INDEX idx_turns_player ON turns (player);
CREATE INDEX idx_turns_speaker ON turns (speaker);
CREATE INDEX idx_turns_memory ON turns (memory_id);
CREATE TABLE memories (
    id BIGINT PRIMARY KEY, character TEXT NOT NULL, player TEXT NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, importance DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL,
    last_accessed DOUBLE PRECISION NOT NULL, turn_ids TEXT DEFAULT '[]',
    present TEXT DEFAULT '[]', speaker TEXT DEFAULT '');
CREATE INDEX idx_memories_pair ON memories (player, character, id);
CREATE TABLE memory_witnesses (
    memory_id BIGINT NOT NULL, witness TEXT NOT NULL, player TEXT NOT NULL,
    PRIMARY KEY (memory_id, witness));
CREATE INDEX idx_witness_scope ON memory_witnesses (player, witness, memory_id);
CREATE INDEX idx_witness_who ON memory_witnesses (witness);
CREATE TABLE memory_index (
    memory_id BIGINT PRIMARY KEY, player TEXT NOT NULL, speaker TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '', context TEXT NOT NULL DEFAULT '', length INTEGER NOT NULL,
    terms TSVECTOR NOT NULL);
CREATE INDEX idx_memory_index_terms ON memory_index USING gin (terms) WITH (fastupdate = off);
CREATE TABLE index_totals (shard SMALLINT PRIMARY KEY, docs BIGINT NOT NULL, tokens BIGINT NOT NULL);
INSERT INTO index_totals (shard, docs, tokens) SELECT s, 0, 0 FROM generate_series(0, 15) AS s;
CREATE TABLE memory_vectors (
    seq BIGSERIAL, memory_id BIGINT NOT NULL, model TEXT NOT NULL, player TEXT NOT NULL,
    vector VECTOR NOT NULL, PRIMARY KEY (memory_id, model));
CREATE INDEX idx_vectors_player ON memory_vectors (player, model, seq);
CREATE TABLE embed_queue (memory_id BIGINT PRIMARY KEY, player TEXT, text TEXT);
CREATE INDEX idx_embed_queue_player ON embed_queue (player, memory_id);
CREATE TABLE facts (
    id BIGSERIAL PRIMARY KEY, character TEXT NOT NULL, player TEXT NOT NULL,
    subject TEXT NOT NULL, predicate TEXT NOT NULL, object TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL, source_turns TEXT DEFAULT '[]',
    created DOUBLE PRECISION NOT NULL, superseded_by BIGINT);
CREATE INDEX idx_facts_pair ON facts (character, player, subject, predicate);
CREATE INDEX idx_facts_player ON facts (player);
CREATE TABLE relationships (
    character TEXT NOT NULL, player TEXT NOT NULL, affinity DOUBLE PRECISION NOT NULL,
    trust DOUBLE PRECISION NOT NULL, familiarity DOUBLE PRECISION NOT NULL, stage TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (character, player));
CREATE INDEX idx_relationships_player ON relationships (player);
CREATE TABLE summaries (
    character TEXT NOT NULL, player TEXT NOT NULL, text TEXT NOT NULL, turn_ids TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (character, player));
CREATE INDEX idx_summaries_player ON summaries (player);
CREATE TABLE players (player TEXT PRIMARY KEY, name TEXT, updated DOUBLE PRECISION);
CREATE TABLE history (
    id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, op TEXT NOT NULL,
    entity TEXT NOT NULL, entity_id TEXT, character TEXT, player TEXT, reason TEXT, detail TEXT);
CREATE INDEX idx_history_player ON history (player);
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE characters (character TEXT PRIMARY KEY);
CREATE TABLE usage (
    id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, day TEXT NOT NULL,
    player TEXT NOT NULL, character TEXT, model TEXT, prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL, latency_ms DOUBLE PRECISION, ttft_ms DOUBLE PRECISION,
    estimated INTEGER, cost DOUBLE PRECISION NOT NULL, charge DOUBLE PRECISION NOT NULL,
    currency TEXT, reservation_id BIGINT);
CREATE INDEX idx_usage_player_day ON usage (player, day);
CREATE TABLE quota_usage (
    player TEXT NOT NULL, day TEXT NOT NULL, questions BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0, spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    tokens_held BIGINT NOT NULL DEFAULT 0, spend_held DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (player, day));
CREATE TABLE quota_reservations (
    id BIGSERIAL PRIMARY KEY, player TEXT NOT NULL, day TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL, status TEXT NOT NULL,
    tokens_held BIGINT NOT NULL DEFAULT 0, spend_held DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, character TEXT, player TEXT,
    direction TEXT NOT NULL, rule TEXT NOT NULL, category TEXT, excerpt TEXT);
CREATE INDEX idx_audit_player ON audit (player, id);
"""

#: (version, name, SQL): append only.
MIGRATIONS: tuple[tuple[int, str, str], ...] = ((1, "initial", _M001),)

#: The advisory lock key migrations hold (any constant unlikely to clash).
_MIGRATION_LOCK = 0x6E7063  # "npc"


def migrate(conn: Any) -> list[int]:
    """Apply pending migrations inside the caller's transaction; returns the versions applied.

    Holds a transaction-scoped advisory lock, so concurrent starters apply each version once.
    """
    conn.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
    )
    done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        conn.raw.execute(sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
            (version, name, time.time()),
        )
        applied.append(version)
    return applied
