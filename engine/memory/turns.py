"""Turns and memories: storing dialogue lines and the memories they become, reading them back,
changing and forgetting single memories.

Functions of a store (:class:`~engine.memory.MemoryStore` has them as methods: ``add_turn``,
``add_turns``, ``recent_turns``, ``add_memory``, ``memories``, ``forget_memory``...). A batch of
turns is planned (:class:`TurnPlan`) before anything is written; what the planning reads, a
backend may read ahead in a few statements (the store's ``_read_ahead``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import NotFoundError, StoreError
from engine.memory.base import (
    ADD_WITNESS,
    MEMORY_COLUMNS,
    MEMORY_KINDS,
    QUEUE_EMBEDDING,
    StoreBase,
    bump_generation,
    dedupe,
)
from engine.memory.scoring import (
    clamp,
)
from engine.memory.text import index_text
from engine.types import (
    MemoryKind,
    MemoryRecord,
    TurnRecord,
)

__all__ = [
    "TurnPlan",
    "add_memory",
    "add_turn",
    "add_turns",
    "forget_memory",
    "get_memory",
    "memories",
    "recent_lines",
    "recent_turns",
    "set_importance",
    "share_memory",
    "speaker_label",
]

logger = logging.getLogger(__name__)


@dataclass
class TurnPlan:
    """The rows a batch of turns writes, gathered before anything is written."""

    now: float
    next_turn: int
    next_mem: int
    ids: list[int] = field(default_factory=list)
    # The previous line of each conversation, to give neighbouring lines as context.
    last: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    memories: list[tuple[Any, ...]] = field(default_factory=list)
    witnesses: list[tuple[Any, ...]] = field(default_factory=list)
    index: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    index_pos: dict[int, int] = field(default_factory=dict)  # memory id -> position in index
    context_updates: list[tuple[int, str, str]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    queue: list[tuple[Any, ...]] = field(default_factory=list)


def speaker_label(conn: Any, speaker: str) -> str:
    """How a speaker is indexed: the id, and the name they go by when known ("p1 Ada")."""
    row = conn.execute("SELECT name FROM players WHERE player = ?", (speaker,)).fetchone()
    return _label(speaker, row[0] if row else None)


def _label(speaker: str, name: str | None) -> str:
    return f"{speaker} {name}" if name and name != speaker else speaker


def add_turn(
    store: StoreBase,
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
    ids = add_turns(
        store,
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
        ],
    )
    when = store.clock() if time is None else float(time)
    row = store._read("SELECT time FROM turns WHERE id = ?", (ids[0],))
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


def add_turns(store: StoreBase, rows: Iterable[dict[str, Any]]) -> list[int]:
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
                "segmented": index_text(str(row["text"]), store.segmentation),
            }
        )
    return store._write(lambda conn: _insert_turns(store, conn, prepared))


def _insert_turns(store: StoreBase, conn: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Write prepared turns: claim the ids, plan every row, then write each table."""
    pairs = [(r["character"], r["player"]) for r in rows]
    store._lock_players(conn, {p for _, p in pairs})
    store._claim_ids(conn, pairs)
    plan = TurnPlan(
        now=store.clock(),
        next_turn=store._allocate_ids(conn, "turns", len(rows)),
        next_mem=store._allocate_ids(conn, "memories", len(rows)),
    )
    ahead = store._read_ahead(conn, pairs, {r["speaker"] for r in rows})
    if ahead is not None:
        previous, names = ahead
        for who, name in names.items():
            plan.names[who] = str(name) if name else who
            plan.labels[who] = _label(who, name)
        for pair, prev in previous.items():
            _previous_from(store, conn, plan, pair, prev)
    for row in rows:
        _plan_turn(store, conn, plan, row)
    _write_plan(store, conn, plan)
    return plan.ids


def _previous_line(store: StoreBase, conn: Any, plan: TurnPlan, pair: tuple[str, str]) -> None:
    """Load the conversation's last stored line into ``plan`` (its neighbour context)."""
    prev = conn.execute(
        "SELECT t.id, t.text, t.session, t.memory_id, t.speaker FROM turns t"
        " WHERE t.character = ? AND t.player = ? ORDER BY t.id DESC LIMIT 2",
        pair,
    ).fetchall()
    _previous_from(store, conn, plan, pair, prev)


def _previous_from(
    store: StoreBase, conn: Any, plan: TurnPlan, pair: tuple[str, str], prev: list[Any]
) -> None:
    """Fill ``plan.last[pair]`` from the conversation's last two lines, newest first."""
    plan.last[pair] = None
    if prev:
        before = prev[1] if len(prev) > 1 and prev[1][2] == prev[0][2] else None
        plan.last[pair] = {
            "memory_id": prev[0][3],
            "segmented": index_text(prev[0][1], store.segmentation),
            "session": prev[0][2],
            "before": index_text(before[1], store.segmentation) if before else "",
            "in_batch": False,
            "line": _line_of(store, conn, plan, prev[0][4], prev[0][1]),
        }


def _line_of(store: StoreBase, conn: Any, plan: TurnPlan, speaker: str, text: str) -> str:
    # A dialogue line as embedded: "Name: text" (the player's name when known).
    if speaker not in plan.names:
        plan.names[speaker] = store._display_name(conn, speaker)
    return f"{plan.names[speaker]}: {text}"


def _plan_turn(store: StoreBase, conn: Any, plan: TurnPlan, row: dict[str, Any]) -> None:
    """Add one turn's rows (turn, memory, witnesses, index entry, history) to ``plan``."""
    pair = (row["character"], row["player"])
    if pair not in plan.last:
        _previous_line(store, conn, plan, pair)
    if row["speaker"] not in plan.labels:
        plan.labels[row["speaker"]] = speaker_label(conn, row["speaker"])
    line = _line_of(store, conn, plan, row["speaker"], row["text"])
    when = plan.now if row["time"] is None else row["time"]
    turn_id, mem_id = plan.next_turn, plan.next_mem
    plan.next_turn += 1
    plan.next_mem += 1
    plan.ids.append(turn_id)
    plan.turns.append(
        (turn_id, pair[0], pair[1], row["speaker"], row["text"], when, row["session"], mem_id)
    )
    plan.memories.append(
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
    plan.witnesses.extend((mem_id, w, pair[1]) for w in row["present"])
    prev_info = plan.last[pair]
    context = ""
    dense_text = line
    if prev_info is not None and prev_info["session"] == row["session"]:
        context = prev_info["segmented"]
        dense_text = prev_info["line"] + "\n" + line
        # The previous line now has a next neighbour too.
        prev_context = (prev_info["before"] + " " + row["segmented"]).strip()
        if prev_info["in_batch"]:
            pos = plan.index_pos[prev_info["memory_id"]]
            plan.index[pos] = (*plan.index[pos][:4], prev_context)
        elif prev_info["memory_id"] is not None:
            plan.context_updates.append((prev_info["memory_id"], pair[1], prev_context))
    plan.index_pos[mem_id] = len(plan.index)
    plan.index.append((mem_id, pair[1], plan.labels[row["speaker"]], row["segmented"], context))
    plan.last[pair] = {
        "memory_id": mem_id,
        "segmented": row["segmented"],
        "session": row["session"],
        "before": context,
        "in_batch": True,
        "line": line,
    }
    plan.history.append(
        (
            plan.now,
            "insert",
            "turn",
            str(turn_id),
            pair[0],
            pair[1],
            "dialogue turn",
            json.dumps({"memory_id": mem_id}),
        )
    )
    if store.embedder is not None:
        plan.queue.append((mem_id, pair[1], dense_text))


def _write_plan(store: StoreBase, conn: Any, plan: TurnPlan) -> None:
    """Write every table of a planned batch of turns."""
    conn.executemany(
        "INSERT INTO turns (id, character, player, speaker, text, time, session, memory_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        plan.turns,
    )
    conn.executemany(
        f"INSERT INTO memories ({MEMORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        plan.memories,
    )
    conn.executemany(ADD_WITNESS, plan.witnesses)
    store._index_insert(conn, plan.index)
    if plan.context_updates:
        store._index_set_context(conn, plan.context_updates)
    conn.executemany(
        "INSERT INTO history (time, op, entity, entity_id, character, player, reason, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        plan.history,
    )
    if plan.queue:
        conn.executemany(QUEUE_EMBEDDING, plan.queue)


def recent_turns(
    store: StoreBase, character: str, player: str, limit: int = 20
) -> list[TurnRecord]:
    """The last ``limit`` turns between ``character`` and ``player``, oldest first."""
    rows = store._read(
        "SELECT id, character, player, speaker, text, time, session FROM turns"
        " WHERE character = ? AND player = ? ORDER BY id DESC LIMIT ?",
        (character, player, max(0, int(limit))),
    )
    return [store._turn(r) for r in reversed(rows)]


def recent_lines(
    store: StoreBase, character: str, player: str, limit: int = 60
) -> list[tuple[str, str]]:
    """``(speaker, text)`` of the last ``limit`` turns between them, oldest first.

    What :meth:`recent_turns` reads, without building a record per row: a turn reads a
    longer window of plain lines than of records.
    """
    rows = store._read(
        "SELECT speaker, text FROM turns"
        " WHERE character = ? AND player = ? ORDER BY id DESC LIMIT ?",
        (character, player, max(0, int(limit))),
    )
    return [(str(r[0]), str(r[1])) for r in reversed(rows)]


def add_memory(
    store: StoreBase,
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
    when = store.clock() if time is None else float(time)
    who = dedupe([character, *([player] if present is None else present)])
    imp = clamp(float(importance), 1.0, 10.0)
    segmented = index_text(text, store.segmentation)

    def write(conn: Any) -> int:
        store._lock_players(conn, [player])
        store._claim_ids(conn, [(character, player)])
        mem_id = store._allocate_ids(conn, "memories", 1)
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
        conn.executemany(ADD_WITNESS, [(mem_id, w, player) for w in who])
        store._index_insert(conn, [(mem_id, player, "", segmented, "")])
        if store.embedder is not None:
            conn.execute(QUEUE_EMBEDDING, (mem_id, player, text))
        store._log(
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

    mem_id = store._write(write)
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


def get_memory(store: StoreBase, memory_id: int) -> MemoryRecord:
    """One memory by id (raises NotFoundError)."""
    rows = store._read(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
    if not rows:
        raise NotFoundError(f"no memory {memory_id}")
    return store._memory(rows[0])


def memories(
    store: StoreBase, character: str, player: str, *, limit: int = 200
) -> list[MemoryRecord]:
    """Memories about ``player`` that ``character`` witnessed or was told, newest first."""
    rows = store._read(
        f"SELECT {', '.join('m.' + c.strip() for c in MEMORY_COLUMNS.split(','))}"
        " FROM memory_witnesses w JOIN memories m ON m.id = w.memory_id"
        " WHERE w.player = ? AND w.witness = ? ORDER BY w.memory_id DESC LIMIT ?",
        (player, character, max(0, int(limit))),
    )
    return [store._memory(r) for r in rows]


def set_importance(
    store: StoreBase, memory_id: int, importance: float, *, reason: str = "rescored"
) -> None:
    """Change a memory's importance (clamped to 1..10)."""
    value = clamp(float(importance), 1.0, 10.0)

    def write(conn: Any) -> None:
        row = _locked_memory(store, conn, memory_id, "character, player, importance")
        conn.execute("UPDATE memories SET importance = ? WHERE id = ?", (value, memory_id))
        store._log(
            conn,
            "update",
            "memory",
            memory_id,
            row[0],
            row[1],
            reason,
            {"importance": [row[2], value]},
        )

    store._write(write)


def share_memory(store: StoreBase, memory_id: int, character: str, *, reason: str = "told") -> None:
    """Let ``character`` know a memory too (it was told): it joins the witnesses."""

    def write(conn: Any) -> None:
        _locked_memory(store, conn, memory_id, "character, player")
        row = conn.execute(
            "SELECT character, player, present FROM memories WHERE id = ?", (memory_id,)
        ).fetchone()
        present = dedupe([*json.loads(row[2] or "[]"), character])
        conn.execute(
            "UPDATE memories SET present = ? WHERE id = ?",
            (json.dumps(present, ensure_ascii=False), memory_id),
        )
        conn.execute(ADD_WITNESS, (memory_id, character, row[1]))
        store._log(conn, "update", "memory", memory_id, row[0], row[1], reason, {"told": character})
        bump_generation(conn)

    store._write(write)
    store._drop_vector_cache(None)


def forget_memory(store: StoreBase, memory_id: int, *, reason: str = "player request") -> None:
    """Delete one memory everywhere: row, witnesses, index entry, embedding.

    An observation of a dialogue line takes the line with it (so it leaves the recent
    turns and its neighbours' indexed context), and a rolling summary that covered the
    line is dropped, to be rebuilt without it.
    """

    def write(conn: Any) -> None:
        row = _locked_memory(store, conn, memory_id, "character, player, kind")
        turns = [
            r[0] for r in conn.execute("SELECT id FROM turns WHERE memory_id = ?", (memory_id,))
        ]
        store._delete_memories(conn, [memory_id])
        store._delete_turns(conn, turns, reason)
        store._log(
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

    store._write(write)
    store._drop_vector_cache(None)


def _locked_memory(store: StoreBase, conn: Any, memory_id: int, columns: str) -> Any:
    """The memory's row (``columns``, the player second) with its player locked for the write;
    NotFoundError when there is none."""
    row = conn.execute(f"SELECT {columns} FROM memories WHERE id = ?", (memory_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no memory {memory_id}")
    store._lock_players(conn, [row[1]])
    return row
