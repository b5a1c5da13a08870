"""Copy a world between stores (SQLite file <-> PostgreSQL), resumable and verified.

``npc memory migrate --from world.db --to postgresql://...`` (and back) calls
:func:`migrate_world`. Rows are copied table by table in chunks, in key order; each chunk and a
marker of how far the table got (``store_meta`` key ``migrate:<table>``) are written in one
transaction on the target, so a copy stopped at any point resumes where it stopped and never
writes a row twice. The full-text index is rebuilt on the target from the copied rows (the two
stores index differently), then every table is verified: the same number of rows and the same
checksum (SHA-256 over the rows in key order, numbers compared as floats, vectors as float32).

Ids are kept, so turn ids in summaries and facts keep pointing at the same turns; the target's
id counters are moved past the copied ids.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import StoreError
from engine.memory.base import MEMORY_COLUMNS, StoreBase, chunks
from engine.memory.ledger import LEDGER_TABLES, Ledger
from engine.memory.text import index_text
from engine.memory.turns import speaker_label

__all__ = ["COPIED_TABLES", "TableReport", "migrate_world"]

logger = logging.getLogger(__name__)

#: table -> (columns, key columns). The first key column pages the copy when it is numeric.
COPIED_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "characters": (("character",), ("character",)),
    "players": (("player", "name", "updated"), ("player",)),
    "turns": (("id", "character", "player", "speaker", "text", "time", "session", "memory_id"), ("id",)),
    "memories": (tuple(c.strip() for c in MEMORY_COLUMNS.split(",")), ("id",)),
    "memory_witnesses": (("memory_id", "witness", "player"), ("memory_id", "witness")),
    "embed_queue": (("memory_id", "player", "text"), ("memory_id",)),
    "facts": (
        ("id", "character", "player", "subject", "predicate", "object", "confidence",
         "source_turns", "created", "superseded_by"),
        ("id",),
    ),
    "relationships": (
        ("character", "player", "affinity", "trust", "familiarity", "stage", "updated"),
        ("character", "player"),
    ),
    "summaries": (("character", "player", "text", "turn_ids", "updated"), ("character", "player")),
    "history": (
        ("id", "time", "op", "entity", "entity_id", "character", "player", "reason", "detail"),
        ("id",),
    ),
    "usage": (
        ("id", "time", "day", "player", "character", "model", "prompt_tokens", "completion_tokens",
         "latency_ms", "ttft_ms", "estimated", "cost", "charge", "currency", "reservation_id"),
        ("id",),
    ),
    "quota_usage": (
        ("player", "day", "questions", "tokens", "spend", "tokens_held", "spend_held"),
        ("player", "day"),
    ),
    "quota_reservations": (
        ("id", "player", "day", "time", "status", "tokens_held", "spend_held"),
        ("id",),
    ),
    "audit": (
        ("id", "time", "character", "player", "direction", "rule", "category", "excerpt"),
        ("id",),
    ),
}  # fmt: skip

#: Rows per chunk (one target transaction each).
CHUNK = 2000

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TableReport:
    """One table after a migration: rows on each side and whether the checksums agree."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def _norm(value: Any) -> str:
    if isinstance(value, bool | int | float):
        return repr(float(value))
    return repr(value)


def _checksum(rows: Iterable[Iterable[Any]]) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        digest.update("\x1f".join(_norm(v) for v in row).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
        count += 1
    return count, digest.hexdigest()


def _ledger_present(store: StoreBase) -> bool:
    return bool(store._read_with(store._ledger_tables))


def _tables(source: StoreBase) -> list[str]:
    ledger = _ledger_present(source)
    return [t for t in COPIED_TABLES if ledger or t not in LEDGER_TABLES]


def _marker(store: StoreBase, key: str) -> str | None:
    rows = store._read("SELECT value FROM store_meta WHERE key = ?", (f"migrate:{key}",))
    return str(rows[0][0]) if rows else None


def _set_marker(conn: Any, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
        " DO UPDATE SET value = excluded.value",
        (f"migrate:{key}", value),
    )


def _copy_table(source: StoreBase, target: StoreBase, table: str, progress: Progress) -> None:
    columns, key = COPIED_TABLES[table]
    cols = ", ".join(columns)
    total = int(source._read(f"SELECT count(*) FROM {table}")[0][0])
    insert = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
    done_mark = _marker(target, table)
    if done_mark == "done":
        progress(table, total, total)
        return
    if key[0] not in ("id", "memory_id"):  # small tables: one chunk, idempotent
        rows = source._read(f"SELECT {cols} FROM {table} ORDER BY {', '.join(key)}")

        def write_all(conn: Any) -> None:
            conn.executemany(insert, rows)
            _set_marker(conn, table, "done")

        target._write(write_all)
        progress(table, total, total)
        return
    last = int(done_mark) if done_mark else -(2**62)
    copied = int(source._read(f"SELECT count(*) FROM {table} WHERE {key[0]} <= ?", (last,))[0][0])
    progress(table, copied, total)
    while True:
        # Page on the first key column without splitting one value's rows across chunks.
        bound = source._read(
            f"SELECT max({key[0]}) FROM (SELECT {key[0]} FROM {table} WHERE {key[0]} > ?"
            f" ORDER BY {key[0]} LIMIT {CHUNK}) AS page",
            (last,),
        )[0][0]
        if bound is None:
            break
        rows = source._read(
            f"SELECT {cols} FROM {table} WHERE {key[0]} > ? AND {key[0]} <= ?"
            f" ORDER BY {', '.join(key)}",
            (last, bound),
        )

        def write(conn: Any, rows: Any = rows, bound: int = int(bound)) -> None:
            conn.executemany(insert, rows)
            _set_marker(conn, table, str(bound))

        target._write(write)
        last = int(bound)
        copied += len(rows)
        progress(table, copied, total)
    target._write(lambda conn: _set_marker(conn, table, "done"))


def _copy_vectors(source: StoreBase, target: StoreBase, progress: Progress) -> None:
    total = int(source._read("SELECT count(*) FROM memory_vectors")[0][0])
    mark = _marker(target, "memory_vectors")
    if mark == "done":
        progress("memory_vectors", total, total)
        return
    last = int(mark) if mark else -1
    copied = 0
    while True:
        rows = source._read(
            "SELECT memory_id, model, player, vector FROM memory_vectors WHERE memory_id > ?"
            " ORDER BY memory_id, model LIMIT ?",
            (last, CHUNK),
        )
        if not rows:
            break
        top = int(rows[-1][0])
        # Whole memories only, so a resumed copy starts at the next memory.
        more = source._read(
            "SELECT memory_id, model, player, vector FROM memory_vectors WHERE memory_id = ?"
            " ORDER BY model",
            (top,),
        )
        rows = [r for r in rows if int(r[0]) != top] + list(more)
        batch = [(int(r[0]), str(r[1]), str(r[2]), source._vector_values(r[3])) for r in rows]

        def write(conn: Any, batch: Any = batch, top: int = top) -> None:
            target._put_vectors(conn, batch)
            _set_marker(conn, "memory_vectors", str(top))

        target._write(write)
        last = top
        copied += len(rows)
        progress("memory_vectors", copied, total)
    target._write(lambda conn: _set_marker(conn, "memory_vectors", "done"))


def _rebuild_index(target: StoreBase, progress: Progress) -> None:
    """Index every memory on the target as the store would have when it was written: the
    speaker's label, the segmented text, and its neighbouring lines of the same session."""
    ids = [int(r[0]) for r in target._read("SELECT id FROM memories ORDER BY id")]
    mark = _marker(target, "index")
    if mark == "done":
        progress("index", len(ids), len(ids))
        return
    start = int(mark) if mark else -1
    todo = [i for i in ids if i > start]
    done = len(ids) - len(todo)
    for chunk in chunks(todo, 500):

        def write(conn: Any, chunk: list[int] = chunk) -> None:
            target._index_delete(conn, chunk)
            target._index_insert(conn, [_index_entry(target, conn, mid) for mid in chunk])
            _set_marker(conn, "index", str(chunk[-1]))

        target._write(write)
        done += len(chunk)
        progress("index", done, len(ids))
    target._write(lambda conn: _set_marker(conn, "index", "done"))


def _index_entry(store: StoreBase, conn: Any, memory_id: int) -> tuple[int, str, str, str, str]:
    player, text, speaker = conn.execute(
        "SELECT player, text, speaker FROM memories WHERE id = ?", (memory_id,)
    ).fetchone()
    mode = store.segmentation
    turn = conn.execute(
        "SELECT id, character, player, session FROM turns WHERE memory_id = ?", (memory_id,)
    ).fetchone()
    label = ""
    parts: list[str] = []
    if turn is not None:
        label = speaker_label(conn, speaker) if speaker else ""
        for op, order in (("<", "DESC"), (">", "ASC")):
            hit = conn.execute(
                f"SELECT text, session FROM turns WHERE character = ? AND player = ?"
                f" AND id {op} ? ORDER BY id {order} LIMIT 1",
                (turn[1], turn[2], turn[0]),
            ).fetchone()
            if hit and hit[1] == turn[3]:
                parts.append(index_text(hit[0], mode))
    return (memory_id, str(player), label, index_text(str(text), mode), " ".join(parts))


def _advance_ids(source: StoreBase, target: StoreBase) -> None:
    floors = source._read_with(
        lambda conn: {t: source._id_high_water(conn, t) for t in ("turns", "memories")}
    )
    target._write(lambda conn: target._sync_counters(conn, floors))


def _verify(source: StoreBase, target: StoreBase, tables: list[str]) -> list[TableReport]:
    reports = []
    for table in tables:
        columns, key = COPIED_TABLES[table]
        sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"
        a = _checksum(source._read(sql))
        b = _checksum(target._read(sql))
        reports.append(TableReport(table, a[0], b[0], a[1], b[1]))

    def vectors(store: StoreBase) -> tuple[int, str]:
        rows = store._read(
            "SELECT memory_id, model, player, vector FROM memory_vectors ORDER BY memory_id, model"
        )
        return _checksum(
            (r[0], r[1], r[2], np.asarray(store._vector_values(r[3]), dtype="<f4").tobytes().hex())
            for r in rows
        )

    a, b = vectors(source), vectors(target)
    reports.append(TableReport("memory_vectors", a[0], b[0], a[1], b[1]))
    index_rows = int(target._read("SELECT count(*) FROM memories")[0][0])
    reports.append(TableReport("index", index_rows, _index_rows(target), "-", "-"))
    return reports


def _index_rows(store: StoreBase) -> int:
    table = "memory_index" if "memory_index" in store.tables() else "memories_fts"
    return int(store._read(f"SELECT count(*) FROM {table}")[0][0])


def migrate_world(
    source: StoreBase, target: StoreBase, *, progress: Progress | None = None
) -> list[TableReport]:
    """Copy every row of ``source`` into ``target`` (resuming an interrupted copy), rebuild
    the target's index, and return the verification of each table.

    Raises :class:`StoreError` when ``target`` already holds a world that is not an
    interrupted copy of this one.
    """
    report: Progress = progress or (lambda table, done, total: None)
    started = _marker(target, "started") is not None
    if not started and target._read("SELECT 1 FROM memories LIMIT 1") + target._read(
        "SELECT 1 FROM turns LIMIT 1"
    ):
        raise StoreError("the target world is not empty (and holds no unfinished copy)")
    tables = _tables(source)
    if any(t in LEDGER_TABLES for t in tables) and not _ledger_present(target):
        Ledger(target.db).close()  # a SQLite target: the ledger's tables, by its migrations
    target._write(lambda conn: _set_marker(conn, "started", "1"))
    for table in tables:
        _copy_table(source, target, table, report)
    _copy_vectors(source, target, report)
    _advance_ids(source, target)
    _rebuild_index(target, report)
    reports = _verify(source, target, tables)
    if all(r.ok for r in reports):
        target._write(
            lambda conn: conn.execute("DELETE FROM store_meta WHERE key LIKE 'migrate:%'")
        )
    return reports
